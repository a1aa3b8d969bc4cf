{{/* The release's name, for every object. */}}
{{- define "ferry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferry.labels" -}}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
ferry.dev/region: {{ .Values.region | quote }}
{{- end -}}

{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: by digest when given, else by a fixed tag. */}}
{{- define "ferry.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- if or (not .Values.image.tag) (eq .Values.image.tag "latest") -}}
{{- fail "image.tag must name a version (or set image.digest): latest is refused" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/*
The config Ferry reads: the user's `ferry` section, plus the node section
and the plugin catalog, which the chart owns.
*/}}
{{- define "ferry.config" -}}
{{- $region := required "region is required: the region this release serves" .Values.region -}}
{{- $catalog := required "pluginCatalog is required: --set-file pluginCatalog=bin/image/plugins.json from the image build" .Values.pluginCatalog -}}
{{- $plugins := fromJsonArray $catalog -}}
{{- if not $plugins -}}
{{- fail "pluginCatalog is not a JSON array of plugins" -}}
{{- end -}}
{{- range $plugins -}}
{{- if or (not (kindIs "map" .)) (not (hasKey . "sha256")) -}}
{{- fail "pluginCatalog is not a JSON array of plugins" -}}
{{- end -}}
{{- end -}}
{{- $node := dict "listen" (printf "0.0.0.0:%v" .Values.ports.api) "admin_listen" (printf "0.0.0.0:%v" .Values.ports.admin) "region" $region -}}
{{- if .Values.tls.secretName -}}
{{- $_ := set $node "tls" (dict "cert_file" "/etc/ferry/tls/tls.crt" "key_file" "/etc/ferry/tls/tls.key") -}}
{{- else -}}
{{- $_ := set $node "insecure_plaintext" true -}}
{{- end -}}
{{- $d := .Values.drain -}}
{{- $budget := add $d.preStopSeconds $d.delaySeconds (mul 2 $d.graceSeconds) 5 -}}
{{- if lt (int $d.terminationGracePeriodSeconds) (int $budget) -}}
{{- fail (printf "drain.terminationGracePeriodSeconds %v is too short: the drain needs preStopSeconds + delaySeconds + 2 x graceSeconds + 5 = %v" $d.terminationGracePeriodSeconds $budget) -}}
{{- end -}}
{{- $_ := set $node "drain" (dict "delay" (printf "%vs" $d.delaySeconds) "grace" (printf "%vs" $d.graceSeconds)) -}}
{{- with .Values.trustedProxies -}}
{{- $_ := set $node "trusted_proxies" . -}}
{{- end -}}
{{- with .Values.tracing -}}
{{- $_ := set $node "tracing" . -}}
{{- end -}}
{{- if .Values.proxyProtocol -}}
{{- $_ := set $node "proxy_protocol" true -}}
{{- end -}}
{{- $cfg := deepCopy .Values.ferry -}}
{{- if hasKey $cfg "node" -}}
{{- fail "ferry.node is the chart's: set region, ports and tls instead" -}}
{{- end -}}
{{- if hasKey $cfg "plugins" -}}
{{- fail "ferry.plugins is the chart's: it comes from pluginCatalog" -}}
{{- end -}}
{{- $_ := set $cfg "node" $node -}}
{{- $_ := set $cfg "plugins" $plugins -}}
{{- toPrettyJson $cfg -}}
{{- end -}}
