{{/*
Names and labels.
*/}}
{{- define "flexsettle.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flexsettle.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flexsettle.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "flexsettle.labels" -}}
helm.sh/chart: {{ include "flexsettle.chart" . }}
{{ include "flexsettle.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the release's pods (server and migration alike); add a component. */}}
{{- define "flexsettle.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flexsettle.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select the server pods only (not the migration Job's). */}}
{{- define "flexsettle.serverSelectorLabels" -}}
{{ include "flexsettle.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "flexsettle.migrationSelectorLabels" -}}
{{ include "flexsettle.selectorLabels" . }}
app.kubernetes.io/component: migration
{{- end }}

{{- define "flexsettle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flexsettle.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image, by digest when one is given. */}}
{{- define "flexsettle.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Where things are in the pod. The TOML file and the mounted Secrets live under /etc/flexsettle
(read-only); the data folder is an emptyDir.
*/}}
{{- define "flexsettle.configDir" -}}/etc/flexsettle/config{{- end }}
{{- define "flexsettle.configFile" -}}/etc/flexsettle/config/flexsettle.toml{{- end }}
{{- define "flexsettle.dataDir" -}}/var/lib/flexsettle{{- end }}
{{- define "flexsettle.jwksDir" -}}/etc/flexsettle/auth/jwks{{- end }}
{{- define "flexsettle.publicKeysDir" -}}/etc/flexsettle/auth/keys{{- end }}
{{- define "flexsettle.tlsDir" -}}/etc/flexsettle/tls{{- end }}
{{- define "flexsettle.clientCADir" -}}/etc/flexsettle/client-ca{{- end }}
{{- define "flexsettle.auditKeyDir" -}}/etc/flexsettle/audit{{- end }}
{{- define "flexsettle.databaseCADir" -}}/etc/flexsettle/database-ca{{- end }}

{{/*
Checks of values the schema cannot express; each fails the render with what to change.
Included by the Deployment, so `helm lint` and `helm template` run them.
*/}}
{{- define "flexsettle.validate" -}}
{{- if and (not .Values.auth.jwks.existingSecret) (not .Values.auth.publicKeys.existingSecret) }}
{{- fail "auth: set auth.jwks.existingSecret and/or auth.publicKeys.existingSecret — the service refuses to start off loopback without trusted token keys" }}
{{- end }}
{{- if and .Values.auth.publicKeys.existingSecret (not .Values.auth.publicKeys.keys) }}
{{- fail "auth.publicKeys.keys: name the Secret's keys that hold PEM public keys" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.existingSecret: name the Secret with the server certificate and key (or set tls.enabled = false)" }}
{{- end }}
{{- if and (not .Values.tls.enabled) (not .Values.tls.allowPlaintext) }}
{{- fail "tls: with tls.enabled = false the service serves plain text on a pod address only with tls.allowPlaintext = true (behind a TLS-terminating proxy or an encrypting mesh)" }}
{{- end }}
{{- if and .Values.tls.clientCA.existingSecret (not .Values.tls.enabled) }}
{{- fail "tls.clientCA needs tls.enabled = true (mutual TLS is TLS)" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if eq (int .Values.probes.healthPort) (int .Values.containerPort) }}
{{- fail (printf "probes.healthPort: %d is containerPort, the gRPC API's port; the plain-text health listener needs a port of its own" (int .Values.probes.healthPort)) }}
{{- end }}
{{- end }}

{{/* health_listen_addr: the plain-text listener that serves only grpc.health.v1.Health. */}}
{{- define "flexsettle.healthListenAddr" -}}
{{- printf "%s:%d" .Values.listenHost (int .Values.probes.healthPort) }}
{{- end }}

{{/*
The health service name that is SERVING as long as the process serves, database or not
(LIVENESS_SERVICE in src/startup.rs; .ci/helm-check compares them).
*/}}
{{- define "flexsettle.livenessService" -}}flexsettle.Liveness{{- end }}

{{/*
One native gRPC probe on the health port: the health service name, then the timings.
Call with (dict "root" $ "service" "" "timing" .Values.probes.readiness). The kubelet's gRPC
probe speaks plain text, which the health listener does whatever tls.* says.
*/}}
{{- define "flexsettle.probe" -}}
grpc:
  port: {{ .root.Values.probes.healthPort }}
  service: {{ .service | quote }}
{{- toYaml .timing | nindent 0 }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the preStop sleep, then the service's own shutdown grace
(limits.shutdown_grace_ms, rounded up to whole seconds), then 5 s for the process to exit.
*/}}
{{- define "flexsettle.terminationGracePeriodSeconds" -}}
{{- $graceMs := 30000 }}
{{- if hasKey (.Values.config.limits | default dict) "shutdown_grace_ms" }}
{{- $graceMs = int64 .Values.config.limits.shutdown_grace_ms }}
{{- end }}
{{- add (int64 .Values.preStopSleepSeconds) (div (add $graceMs 999) 1000) 5 }}
{{- end }}

{{/*
A TOML value from a YAML one. Helm reads every YAML number as a float, which TOML would print
as 30000.0 and the service would refuse for an integer setting, so whole numbers are printed
as integers (the schema allows only integers where the service wants them). Strings are
printed as JSON strings, which are valid TOML basic strings.
*/}}
{{- define "flexsettle.tomlValue" -}}
{{- if kindIs "bool" . }}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}{{ int64 . }}
{{- else if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "slice" . }}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "flexsettle.tomlValue" $v }}{{ end }}]
{{- else }}{{ fail (printf "cannot render %v as TOML" .) }}
{{- end }}
{{- end }}

{{/*
Volumes and mounts of the Secrets the service reads, shared by the server's pod.
*/}}
{{- define "flexsettle.secretVolumes" -}}
{{- if .Values.auth.jwks.existingSecret }}
- name: token-jwks
  secret:
    secretName: {{ .Values.auth.jwks.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.auth.jwks.key }}
        path: {{ .Values.auth.jwks.key }}
{{- end }}
{{- if .Values.auth.publicKeys.existingSecret }}
- name: token-public-keys
  secret:
    secretName: {{ .Values.auth.publicKeys.existingSecret }}
    defaultMode: 0440
    items:
      {{- range .Values.auth.publicKeys.keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.tls.certKey }}
        path: {{ .Values.tls.certKey }}
      - key: {{ .Values.tls.keyKey }}
        path: {{ .Values.tls.keyKey }}
{{- end }}
{{- if .Values.tls.clientCA.existingSecret }}
- name: client-ca
  secret:
    secretName: {{ .Values.tls.clientCA.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.tls.clientCA.key }}
        path: {{ .Values.tls.clientCA.key }}
{{- end }}
- name: audit-signing-key
  secret:
    secretName: {{ .Values.audit.signingKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.audit.signingKey.key }}
        path: {{ .Values.audit.signingKey.key }}
{{- include "flexsettle.databaseCAVolume" . }}
{{- end }}

{{- define "flexsettle.secretMounts" -}}
{{- if .Values.auth.jwks.existingSecret }}
- name: token-jwks
  mountPath: {{ include "flexsettle.jwksDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.auth.publicKeys.existingSecret }}
- name: token-public-keys
  mountPath: {{ include "flexsettle.publicKeysDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "flexsettle.tlsDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.tls.clientCA.existingSecret }}
- name: client-ca
  mountPath: {{ include "flexsettle.clientCADir" . }}
  readOnly: true
{{- end }}
- name: audit-signing-key
  mountPath: {{ include "flexsettle.auditKeyDir" . }}
  readOnly: true
{{- include "flexsettle.databaseCAMount" . }}
{{- end }}

{{/* The PostgreSQL server's CA, for sslrootcert= in the URLs (server pods and migration Job). */}}
{{- define "flexsettle.databaseCAVolume" -}}
{{- if .Values.database.ca.existingSecret }}
- name: database-ca
  secret:
    secretName: {{ .Values.database.ca.existingSecret }}
    defaultMode: 0444
    items:
      - key: {{ .Values.database.ca.caKey }}
        path: {{ .Values.database.ca.caKey }}
{{- end }}
{{- end }}

{{- define "flexsettle.databaseCAMount" -}}
{{- if .Values.database.ca.existingSecret }}
- name: database-ca
  mountPath: {{ include "flexsettle.databaseCADir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* The hardened container security context of every container of the chart. */}}
{{- define "flexsettle.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "flexsettle.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}
