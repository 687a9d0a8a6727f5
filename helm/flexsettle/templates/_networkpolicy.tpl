{{/*
Egress rules shared by the server's and the migration Job's NetworkPolicies: DNS and PostgreSQL.
*/}}
{{- define "flexsettle.egressDnsAndDatabase" -}}
{{- $egress := .Values.networkPolicy.egress }}
{{- if $egress.dns.enabled }}
# DNS (the database's and the collector's names).
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $egress.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
# PostgreSQL.
- ports:
    {{- range $egress.database.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $egress.database.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
