{{/* Names, labels and shared pieces of the kontinue chart. */}}

{{- define "kontinue.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kontinue.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kontinue.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
app.kubernetes.io/name: {{ include "kontinue.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: kontinue
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "worker") */}}
{{- define "kontinue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kontinue.name" .root | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end -}}

{{- define "kontinue.componentLabels" -}}
{{ include "kontinue.labels" .root }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end -}}

{{/* The ServiceAccount name of one component. */}}
{{- define "kontinue.serviceAccountName" -}}
{{- $explicit := index .root.Values.serviceAccount .component -}}
{{- if $explicit -}}
{{- $explicit -}}
{{- else if .root.Values.serviceAccount.create -}}
{{- printf "%s-%s" (include "kontinue.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "kontinue.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "kontinue.workerImage" -}}
{{- $repo := .Values.worker.image.repository | default .Values.image.repository -}}
{{- $tag := .Values.worker.image.tag | default .Values.image.tag | default .Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* Environment every component shares: the Kubernetes store in the pod's namespace. */}}
{{- define "kontinue.env" -}}
- name: KONTINUE_STORE
  value: kubernetes
- name: KONTINUE_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
{{- end -}}

{{/* The global flags of every kontinue command the chart runs. */}}
{{- define "kontinue.globalArgs" -}}
- --store
- kubernetes
- --namespace
- $(KONTINUE_NAMESPACE)
{{- end -}}

{{- define "kontinue.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "kontinue.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "kontinue.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* nodeSelector, tolerations and affinity of one component's values. */}}
{{- define "kontinue.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
