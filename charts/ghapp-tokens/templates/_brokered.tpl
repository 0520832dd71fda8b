{{/*
mode: brokered (issue 21, docs/keyless.md). The generator presents the pod's projected
service-account token (audience broker.audience, a short expiry) to the runner broker, which holds
the App's key and answers with a token narrowed by the trust policy that names the pod's service
account. Nothing of an App's key reaches this namespace: no SecretStore, ExternalSecret or App
Secret is rendered, and the main container never mounts the projected token.
*/}}

{{/* "true" in brokered mode, "" otherwise. */}}
{{- define "ghapp-tokens.brokered" -}}
{{- if eq (toString .Values.mode) "brokered" -}}true{{- end -}}
{{- end -}}

{{/* Where the generator finds the projected token and the broker's CA. */}}
{{- define "ghapp-tokens.brokerTokenDir" -}}/var/run/secrets/ghapp-broker{{- end -}}
{{- define "ghapp-tokens.brokerCaDir" -}}/etc/ghapp-tokens/broker-ca{{- end -}}

{{/* Checks of mode and broker; mixing the modes' settings is refused. */}}
{{- define "ghapp-tokens.validateMode" -}}
{{- $mode := toString (.Values.mode | default "secrets") -}}
{{- $b := .Values.broker | default dict -}}
{{- if not (has $mode (list "secrets" "brokered")) -}}
{{- fail "mode must be secrets (App keys synced into this namespace) or brokered (tokens from the runner broker, no key in this namespace)" -}}
{{- end -}}
{{- if eq $mode "secrets" -}}
{{- if $b.url -}}
{{- fail "broker.url is set but mode is secrets: the modes do not mix; set mode: brokered to get tokens from the broker (no App Secret in this namespace), or remove broker.url" -}}
{{- end -}}
{{- else -}}
{{- if not $b.url -}}
{{- fail "mode: brokered needs broker.url: the runner broker's https URL, e.g. https://ghapp-runner-broker.broker-system.svc:8443" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "broker.url" "value" $b.url "rule" "url") -}}
{{- if not (hasPrefix "https://" (toString $b.url)) -}}
{{- fail "broker.url must be https: the request carries the pod's service-account token; for a private CA set broker.caConfigMap" -}}
{{- end -}}
{{- if not (and (kindIs "string" $b.audience) (regexMatch "^[A-Za-z0-9][-A-Za-z0-9._:/]{0,252}$" (toString $b.audience))) -}}
{{- fail "broker.audience must be the broker's audience for Kubernetes tokens (letters, digits and - . _ : /), e.g. ghapp-runner-broker" -}}
{{- end -}}
{{- $exp := $b.tokenExpirationSeconds | default 600 -}}
{{- if or (not (regexMatch "^[0-9]{1,6}$" (toString $exp))) (lt (int $exp) 600) (gt (int $exp) 86400) -}}
{{- fail "broker.tokenExpirationSeconds must be a whole number of seconds from 600 (Kubernetes' minimum for a projected token) to 86400" -}}
{{- end -}}
{{- with $b.caConfigMap -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "broker.caConfigMap" "value" . "rule" "subdomain" "fix" ": the name of a ConfigMap in this namespace with the key ca.crt") -}}
{{- end -}}
{{- if .Values.flux.enabled -}}
{{- fail "flux.enabled renders App credentials from the secret store, which mode: brokered leaves out of this release: install the Flux part from a release in mode: secrets, or set flux.enabled=false" -}}
{{- end -}}
{{- if .Values.rbac.secretReader.enabled -}}
{{- fail "rbac.secretReader reads the App Secrets, which mode: brokered does not render: set rbac.secretReader.enabled=false" -}}
{{- end -}}
{{- if .Values.secretStore.serviceAccount.create -}}
{{- fail "secretStore.serviceAccount.create makes the secret store's identity, and mode: brokered renders no store: set secretStore.serviceAccount.create=false" -}}
{{- end -}}
{{- range $i, $v := .Values.workflowTemplates.volumes -}}
{{- if has $v.name (list "broker-token" "broker-ca") -}}
{{- fail (printf "workflowTemplates.volumes[%d].name is one of the brokered templates' own volumes (broker-token, broker-ca): choose another name" $i) -}}
{{- end -}}
{{- end -}}
{{- range $i, $m := .Values.workflowTemplates.main.volumeMounts -}}
{{- if has $m.name (list "broker-token" "broker-ca") -}}
{{- fail (printf "workflowTemplates.main.volumeMounts[%d] mounts %s, the generator's: the main container never gets the service-account token the broker accepts, only the GitHub token in $GITHUB_TOKEN_FILE" $i $m.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The generator's credentials in brokered mode: the broker and the projected token, no App ID or key. */}}
{{- define "ghapp-tokens.brokerEnv" -}}
- name: BROKER_URL
  value: {{ .Values.broker.url | quote }}
- name: OIDC_TOKEN_FILE
  value: {{ printf "%s/token" (include "ghapp-tokens.brokerTokenDir" .) | quote }}
{{- if .Values.broker.caConfigMap }}
- name: BROKER_CA_FILE
  value: {{ printf "%s/ca.crt" (include "ghapp-tokens.brokerCaDir" .) | quote }}
{{- end }}
{{- end -}}

{{/* The generator's mounts in brokered mode. */}}
{{- define "ghapp-tokens.brokerMounts" -}}
- name: broker-token
  mountPath: {{ include "ghapp-tokens.brokerTokenDir" . | quote }}
  readOnly: true
{{- if .Values.broker.caConfigMap }}
- name: broker-ca
  mountPath: {{ include "ghapp-tokens.brokerCaDir" . | quote }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The projected service-account token: audience the broker's, a short expiry (the kubelet replaces
it at 80% of it; the refresh sidecar re-reads it at every refresh). Group-readable through fsGroup
only, like the key it replaces; mounted into the generator's containers alone.
*/}}
{{- define "ghapp-tokens.brokerVolumes" -}}
- name: broker-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          audience: {{ .Values.broker.audience | quote }}
          expirationSeconds: {{ int (.Values.broker.tokenExpirationSeconds | default 600) }}
          path: token
{{- if .Values.broker.caConfigMap }}
- name: broker-ca
  configMap:
    name: {{ .Values.broker.caConfigMap | quote }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
