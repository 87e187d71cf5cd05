{{- define "mlops-operator.fullname" -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlops-operator.labels" -}}
app.kubernetes.io/name: mlops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "mlops-operator.selectorLabels" -}}
app.kubernetes.io/name: mlops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
