"""Test support code shared by the test tiers, benchmarks and end-to-end scenarios.

`controlplane` starts a real local Kubernetes control plane (etcd, kube-apiserver and, for
end-to-end tests, kube-controller-manager, kube-scheduler and kwok); `pki` makes its certificates;
`kube` opens `kubernetes_asyncio` clients on it.
"""
