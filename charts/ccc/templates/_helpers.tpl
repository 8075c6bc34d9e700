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
