{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "ccc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-name, or the release name alone when it already contains the chart name. */}}
{{- define "ccc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ccc.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ccc.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ccc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ccc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Standard labels of every object. */}}
{{- define "ccc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ccc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: ccc
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ccc.serviceAccountName" -}}
{{- default (include "ccc.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The Lease the replicas elect a leader with (its name also scopes the Role). */}}
{{- define "ccc.leaseName" -}}
{{- include "ccc.fullname" . -}}
{{- end -}}

{{- define "ccc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Admission webhook: Service, certificate Secret and MutatingWebhookConfiguration names. */}}
{{- define "ccc.webhookService" -}}
{{- printf "%s-webhook" (include "ccc.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ccc.webhookSecret" -}}
{{- printf "%s-webhook-cert" (include "ccc.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ccc.webhookConfig" -}}
{{- include "ccc.fullname" . -}}
{{- end -}}

{{/* The names the API server calls the webhook Service by (the serving certificate's hosts). */}}
{{- define "ccc.webhookHosts" -}}
{{- $svc := include "ccc.webhookService" . -}}
{{- printf "%s.%s.svc,%s.%s.svc.cluster.local" $svc .Release.Namespace $svc .Release.Namespace -}}
{{- end -}}

{{/* Node-label keys that name a class ccc serves, as a CEL list. */}}
{{- define "ccc.celClassKeys" -}}
{{- if .Values.controller.acceptGkeClassLabel -}}
['ccc.dev/compute-class', 'cloud.google.com/compute-class']
{{- else -}}
['ccc.dev/compute-class']
{{- end -}}
{{- end -}}

{{/*
CEL: the pod names a class under one of KEYS (a CEL list) in its node selector or in a required
node-affinity term. The same reading as ccc/api/selection.py.
*/}}
{{- define "ccc.celNamesClass" -}}
(has(object.spec.nodeSelector) && object.spec.nodeSelector.exists(k, k in {{ . }})) || (has(object.spec.affinity) && has(object.spec.affinity.nodeAffinity) && has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) && object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.exists(t, has(t.matchExpressions) && t.matchExpressions.exists(e, e.key in {{ . }} && e.operator == 'In')))
{{- end -}}

{{- define "ccc.celNotDaemonSetPod" -}}
!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(r, r.kind == 'DaemonSet')
{{- end -}}

{{/* Namespaces whose pods admission never sees. */}}
{{- define "ccc.webhookExcluded" -}}
- key: kubernetes.io/metadata.name
  operator: NotIn
  values:
    {{- toYaml (concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq) | nindent 4 }}
{{- end -}}

{{/* What every webhook of the configuration shares; argument: (list $ failurePolicy). */}}
{{- define "ccc.webhookCommon" -}}
{{- $ := index . 0 -}}
admissionReviewVersions: ["v1"]
sideEffects: NoneOnDryRun
failurePolicy: {{ index . 1 }}
timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
reinvocationPolicy: IfNeeded
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
    scope: Namespaced
clientConfig:
  {{- if $.Values.webhook.url }}
  url: {{ $.Values.webhook.url | quote }}
  {{- else }}
  service:
    name: {{ include "ccc.webhookService" $ }}
    namespace: {{ $.Release.Namespace }}
    path: /mutate-pods
    port: 443
  {{- end }}
{{- end -}}
