"""The mutating admission webhook of ``ccc run``: the class toleration and default classes
(decided by :mod:`policies.class_admission`), served over TLS with a certificate the controller
creates, rotates and publishes in the webhook configuration's ``caBundle``."""
