{{- define "mlops-operator.fullname" -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Name of the REST API's objects: "<release>-rest". */ -}}
{{- define "mlops-operator.restName" -}}
{{- printf "%s-rest" (include "mlops-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlops-operator.labels" -}}
app.kubernetes.io/name: mlops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlops-operator
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- /* Selector labels of one component: pass (dict "ctx" $ "component" "operator"). */ -}}
{{- define "mlops-operator.selectorLabels" -}}
app.kubernetes.io/name: mlops-operator
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mlops-operator.componentLabels" -}}
{{ include "mlops-operator.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mlops-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- /* Pod and container security settings shared by both Deployments (restricted profile). */ -}}
{{- define "mlops-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "mlops-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}
