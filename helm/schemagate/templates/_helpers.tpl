{{/*
Names, labels and the two generated files (schemagate.yaml, policy.yaml).
Paths inside the pod are fixed here: /etc/schemagate (the ConfigMap), /var/lib/schemagate (the
writable state emptyDir), /var/run/secrets/schemagate/* (Secrets, one directory each).
*/}}

{{- define "schemagate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "schemagate.fullname" -}}
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

{{- define "schemagate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "schemagate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "schemagate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "schemagate.labels" -}}
helm.sh/chart: {{ include "schemagate.chart" . }}
{{ include "schemagate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "schemagate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "schemagate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "schemagate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Secret names: the user's existing Secret, else the one this chart creates. */}}
{{- define "schemagate.secretName" -}}
{{- include "schemagate.fullname" . }}
{{- end }}

{{- define "schemagate.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "schemagate.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{- define "schemagate.adminTokensSecretName" -}}
{{- default (include "schemagate.secretName" .) .Values.admin.existingSecret }}
{{- end }}

{{- define "schemagate.adminTokensKey" -}}
{{- if .Values.admin.existingSecret }}{{ .Values.admin.existingSecretKey }}{{ else }}admin-tokens{{ end }}
{{- end }}

{{- define "schemagate.webhookSecretName" -}}
{{- default (include "schemagate.secretName" .) .Values.approvals.webhookSecret.existingSecret }}
{{- end }}

{{/* Whether each Secret-backed feature is in use. */}}
{{- define "schemagate.hasAdminTokens" -}}
{{- if or .Values.admin.existingSecret .Values.admin.tokens }}true{{ end }}
{{- end }}

{{- define "schemagate.hasWebhooks" -}}
{{- if .Values.approvals.webhooks }}true{{ end }}
{{- end }}

{{/* The chart creates a Secret when tokens or a webhook secret are given as values. */}}
{{- define "schemagate.createSecret" -}}
{{- if or (and .Values.admin.tokens (not .Values.admin.existingSecret)) (and (include "schemagate.hasWebhooks" .) (not .Values.approvals.webhookSecret.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
Checks `values.schema.json` cannot express (they depend on several values at once).
Rendered at the top of the Deployment, so `helm template` and `helm install` both fail.
*/}}
{{- define "schemagate.validate" -}}
{{- $_ := required "upstream.host is required: the database server schemagate forwards to (a host name, an IP, or a socket directory)" .Values.upstream.host }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) (or (not .Values.tls.cert) (not .Values.tls.key)) }}
{{- fail "tls.enabled needs tls.existingSecret, or both tls.cert and tls.key" }}
{{- end }}
{{- if and .Values.tls.require (not .Values.tls.enabled) }}
{{- fail "tls.require needs tls.enabled" }}
{{- end }}
{{- if and .Values.tls.admin (not .Values.tls.enabled) }}
{{- fail "tls.admin needs tls.enabled (the admin port uses the same certificate)" }}
{{- end }}
{{- if and .Values.admin.existingSecret .Values.admin.tokens }}
{{- fail "give admin.tokens or admin.existingSecret, not both" }}
{{- end }}
{{- if and (include "schemagate.hasWebhooks" .) (not .Values.approvals.webhookSecret.existingSecret) (not .Values.approvals.webhookSecret.secret) }}
{{- fail "approvals.webhooks need a signing secret: approvals.webhookSecret.secret or approvals.webhookSecret.existingSecret" }}
{{- end }}
{{- range .Values.approvals.webhooks }}
{{- if and .secretKey (not $.Values.approvals.webhookSecret.existingSecret) }}
{{- fail "approvals.webhooks[].secretKey picks a key of approvals.webhookSecret.existingSecret; the Secret the chart creates has only approvals.webhookSecret.key" }}
{{- end }}
{{- end }}
{{- if and .Values.approvals.webhookSecret.existingSecret .Values.approvals.webhookSecret.secret }}
{{- fail "give approvals.webhookSecret.secret or approvals.webhookSecret.existingSecret, not both" }}
{{- end }}
{{- if and (eq .Values.approvals.store.backend "postgres") (not .Values.approvals.store.dsn) }}
{{- fail "approvals.store.backend postgres needs approvals.store.dsn (a libpq connection string)" }}
{{- end }}
{{- if and (hasPrefix "/" .Values.upstream.host) (not (has .Values.upstream.tls.mode (list "disable" "prefer"))) }}
{{- fail "upstream.tls.mode must be disable or prefer with a Unix socket directory as upstream.host" }}
{{- end }}
{{- end }}

{{- define "schemagate.shutdownGraceMs" -}}
{{- $limits := default dict (get (default dict .Values.config) "limits") }}
{{- int (default 30000 (get $limits "shutdown_grace_ms")) }}
{{- end }}

{{- define "schemagate.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (div (int (include "schemagate.shutdownGraceMs" .)) 1000) (int .Values.preStopSleepSeconds) 10 }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* schemagate.yaml: .Values.config underneath, the chart's own keys on top. */}}
{{- define "schemagate.configYaml" -}}
{{- $v := .Values }}
{{- $secrets := "/var/run/secrets/schemagate" }}
{{- $listen := dict "address" $v.listen.address "port" (int $v.listen.port) }}
{{- if $v.listen.unixSocketDir }}
{{- $_ := set $listen "unix_socket_dir" $v.listen.unixSocketDir }}
{{- end }}
{{- $tlsFiles := dict "cert_file" (printf "%s/tls/tls.crt" $secrets) "key_file" (printf "%s/tls/tls.key" $secrets) }}
{{- if $v.tls.enabled }}
{{- $_ := set $listen "tls" (merge (dict "require" $v.tls.require) $tlsFiles) }}
{{- end }}
{{- $upTls := dict "mode" $v.upstream.tls.mode }}
{{- if $v.upstream.tls.serverName }}
{{- $_ := set $upTls "server_name" $v.upstream.tls.serverName }}
{{- end }}
{{- if $v.upstream.tls.caSecret.name }}
{{- $_ := set $upTls "ca_file" (printf "%s/upstream-ca/%s" $secrets $v.upstream.tls.caSecret.key) }}
{{- end }}
{{- $upstream := dict "host" $v.upstream.host "port" (int $v.upstream.port) "tls" $upTls }}
{{- $admin := dict "address" "0.0.0.0" "port" (int $v.admin.port) }}
{{- if $v.admin.publicUrl }}
{{- $_ := set $admin "public_url" $v.admin.publicUrl }}
{{- end }}
{{- if include "schemagate.hasAdminTokens" . }}
{{- $_ := set $admin "tokens_file" (printf "%s/admin-tokens/%s" $secrets (include "schemagate.adminTokensKey" .)) }}
{{- end }}
{{- if $v.tls.admin }}
{{- $_ := set $admin "tls" $tlsFiles }}
{{- end }}
{{- $store := dict "backend" $v.approvals.store.backend }}
{{- if eq $v.approvals.store.backend "postgres" }}
{{- $_ := set $store "dsn" $v.approvals.store.dsn }}
{{- $_ := set $store "schema" $v.approvals.store.schema }}
{{- else }}
{{- $_ := set $store "path" "/var/lib/schemagate/approvals.db" }}
{{- end }}
{{- $base := deepCopy (default dict $v.config) }}
{{- $approvals := deepCopy (default dict (get $base "approvals")) }}
{{- $_ := set $approvals "store" (merge $store (default dict (get $approvals "store"))) }}
{{- if and (eq $v.approvals.store.backend "postgres") (hasKey $approvals.store "path") }}
{{- $_ := unset $approvals.store "path" }}
{{- end }}
{{- if $v.approvals.webhooks }}
{{- $hooks := list }}
{{- range $v.approvals.webhooks }}
{{- $h := dict "url" .url "mode" (default "notify" .mode) "secret_file" (printf "%s/webhook/%s" $secrets (default $v.approvals.webhookSecret.key .secretKey)) }}
{{- if not (kindIs "invalid" .timeoutMs) }}{{ $_ := set $h "timeout_ms" (int .timeoutMs) }}{{ end }}
{{- if not (kindIs "invalid" .retries) }}{{ $_ := set $h "retries" (int .retries) }}{{ end }}
{{- if .fallback }}{{ $_ := set $h "fallback" .fallback }}{{ end }}
{{- $hooks = append $hooks $h }}
{{- end }}
{{- $_ := set $approvals "webhooks" $hooks }}
{{- end }}
{{- $cfg := $base }}
{{- $_ := set $cfg "listen" (merge $listen (default dict (get $base "listen"))) }}
{{- $_ := set $cfg "upstream" (merge $upstream (default dict (get $base "upstream"))) }}
{{- $_ := set $cfg "admin" (merge $admin (default dict (get $base "admin"))) }}
{{- $_ := set $cfg "state" (dict "path" "/var/lib/schemagate/state.db") }}
{{- $_ := set $cfg "approvals" $approvals }}
{{- $_ := set $cfg "policy" (dict "file" "policy.yaml" "mode" $v.mode) }}
{{- toYaml $cfg }}
{{- end }}

{{- define "schemagate.policyYaml" -}}
{{- if .Values.policyText }}
{{- .Values.policyText }}
{{- else if .Values.policy }}
{{- toYaml .Values.policy }}
{{- else }}
{{- .Files.Get "files/policy.yaml" }}
{{- end }}
{{- end }}
