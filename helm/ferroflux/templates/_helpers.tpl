{{- define "ferroflux.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ferroflux.labels" -}}
app.kubernetes.io/name: ferroflux
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ferroflux.selector" -}}
app.kubernetes.io/name: ferroflux
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
