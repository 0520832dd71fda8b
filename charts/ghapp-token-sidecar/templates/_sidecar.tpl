{{/*
ghapp-token-sidecar: include these in your own pod template to get a GitHub App installation
token at /var/run/github/token, minted and kept fresh by ghapp-token running as a native sidecar
(an initContainer with restartPolicy: Always, Kubernetes >= 1.29): it starts before your
containers, its startupProbe holds them back until the first token is on disk, and it keeps
running beside them. Values, under .Values.githubApp:

  enabled                 turn it on (default off)
  secretName              Secret with keys appId and privateKey (e.g. github-app-rex from ghapp-tokens)
  refreshInterval         replace the token this often, 1m..55m (e.g. 45m; default: at 80% of its lifetime)
  requestTimeout          time limit of each request to GitHub, 1s..5m (default: the generator's)
  maxRetryWait            longest wait for a rate limit or retry, 0s..1h (default: the generator's)
  revokeOnExit            revoke the last token when the pod stops (default true)
  image.repository/tag    the ghapp-token image (tag defaults to this library's appVersion)
  apiUrl                  GitHub API URL (GitHub Enterprise Server: https://HOST/api/v3)
  installationId, owner, repositories, permissions   select and scope the token
  tokenFileMode           0600 (same UID, default) or 0640 (readers in the pod's fsGroup)
  resources               of the sidecar
  mode                    secrets (default: secretName's App key) or brokered (issue 21, docs/keyless.md):
                          the pod's projected service-account token is exchanged at the runner broker,
                          and no App Secret is mounted; then broker.url (https, required),
                          broker.audience (default ghapp-runner-broker), broker.tokenExpirationSeconds
                          (600..86400, default 600) and broker.caConfigMap (a ConfigMap with ca.crt)

In your chart:
  initContainers:
    {{- include "ghapp-token-sidecar.initContainers" . | nindent 8 }}
  containers:
    - name: app
      env:
        {{- include "ghapp-token-sidecar.env" . | nindent 12 }}
      volumeMounts:
        {{- include "ghapp-token-sidecar.volumeMounts" . | nindent 12 }}
  volumes:
    {{- include "ghapp-token-sidecar.volumes" . | nindent 8 }}
Every include renders nothing while githubApp.enabled is false.

Every value is checked before anything renders (a `fail` naming the value and the fix, never
echoing it) and rendered quoted, so no value can add keys or containers: a library's values get no
values.schema.json of their own in the chart that includes it. Durations take the same strings and
limits as the ghapp-tokens chart and the generator (CONTRACTS.md "Durations").
*/}}

{{/* Fails unless a value matches a pattern: (list "githubApp.owner" value pattern maxLength "what it must be"). */}}
{{- define "ghapp-token-sidecar.check" -}}
{{- $path := index . 0 -}}{{- $value := index . 1 -}}
{{- if not (kindIs "string" $value) -}}
{{- fail (printf "%s must be a string (quote it in the values): %s" $path (index . 4)) -}}
{{- end -}}
{{- if or (gt (len $value) (int (index . 3))) (not (regexMatch (index . 2) $value)) -}}
{{- fail (printf "%s must be %s, at most %d characters" $path (index . 4) (int (index . 3))) -}}
{{- end -}}
{{- end -}}

{{/* Seconds in a duration such as 45m, 1h30m, 90s or 500ms. */}}
{{- define "ghapp-token-sidecar.seconds" -}}
{{- $unit := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" (toString .) -1 -}}
{{- $number := regexFind "^[0-9]+" . -}}
{{- $total = addf $total (mulf (float64 $number) (get $unit (trimPrefix $number .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* A duration within limits: (list "githubApp.refreshInterval" value minSeconds maxSeconds "1m and 55m"). */}}
{{- define "ghapp-token-sidecar.duration" -}}
{{- include "ghapp-token-sidecar.check" (list (index . 0) (index . 1) "^([0-9]+(ms|s|m|h))+$" 32 "a duration such as 90s, 45m, 1h or 1h30m (units ms, s, m, h; a bare number has no unit)") -}}
{{- $seconds := include "ghapp-token-sidecar.seconds" (index . 1) | float64 -}}
{{- if or (lt $seconds (float64 (index . 2))) (gt $seconds (float64 (index . 3))) -}}
{{- fail (printf "%s must be between %s" (index . 0) (index . 4)) -}}
{{- end -}}
{{- end -}}

{{/* githubApp.mode: brokered's values (issue 21): the broker's https URL, audience, expiry and CA; no App Secret. */}}
{{- define "ghapp-token-sidecar.brokerValues" -}}
{{- $b := .broker | default dict -}}
{{- if not (kindIs "map" $b) -}}
{{- fail "githubApp.broker must be a map: {url, audience, tokenExpirationSeconds, caConfigMap}" -}}
{{- end -}}
{{- range $key, $_ := $b -}}
{{- if not (has $key (list "url" "audience" "tokenExpirationSeconds" "caConfigMap")) -}}
{{- fail (printf "githubApp.broker.%s is not a value of the ghapp-token-sidecar library (a typo?): it takes url, audience, tokenExpirationSeconds, caConfigMap" $key) -}}
{{- end -}}
{{- end -}}
{{- if .secretName -}}
{{- fail "githubApp.secretName is set but githubApp.mode is brokered: the modes do not mix; in brokered mode no App Secret is mounted: remove githubApp.secretName" -}}
{{- end -}}
{{- if and (hasKey . "revokeOnExit") .revokeOnExit -}}
{{- fail "githubApp.revokeOnExit is true but githubApp.mode is brokered: the broker hands one cached token to every pod of the same scope, and revoking it would cut the others off; remove githubApp.revokeOnExit (brokered sidecars do not revoke)" -}}
{{- end -}}
{{- if .installationId -}}
{{- fail "githubApp.installationId is set but githubApp.mode is brokered: the broker chooses the installation from githubApp.owner or its trust policy; remove githubApp.installationId" -}}
{{- end -}}
{{- if not $b.url -}}
{{- fail "githubApp.mode: brokered needs githubApp.broker.url: the runner broker's https URL" -}}
{{- end -}}
{{- include "ghapp-token-sidecar.check" (list "githubApp.broker.url" $b.url "^https://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+,;=:@/]*)?$" 2048 "an https URL (the request carries the pod's service-account token), e.g. https://ghapp-runner-broker.broker-system.svc:8443") -}}
{{- with $b.audience }}{{ include "ghapp-token-sidecar.check" (list "githubApp.broker.audience" . "^[A-Za-z0-9][-A-Za-z0-9._:/]*$" 253 "the broker's audience (letters, digits and - . _ : /), e.g. ghapp-runner-broker") }}{{ end -}}
{{- with $b.caConfigMap }}{{ include "ghapp-token-sidecar.check" (list "githubApp.broker.caConfigMap" . "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" 253 "a ConfigMap name with the key ca.crt") }}{{ end -}}
{{- $exp := $b.tokenExpirationSeconds | default 600 -}}
{{- if or (not (regexMatch "^[0-9]{1,6}$" (toString $exp))) (lt (int $exp) 600) (gt (int $exp) 86400) -}}
{{- fail "githubApp.broker.tokenExpirationSeconds must be a whole number of seconds from 600 (Kubernetes' minimum for a projected token) to 86400" -}}
{{- end -}}
{{- end -}}

{{- define "ghapp-token-sidecar.values" -}}
{{- $v := .Values.githubApp | default dict -}}
{{- if $v.enabled -}}
{{- $known := list "enabled" "secretName" "refreshInterval" "requestTimeout" "maxRetryWait" "revokeOnExit" "image" "apiUrl" "installationId" "owner" "repositories" "permissions" "tokenFileMode" "resources" "mode" "broker" -}}
{{- range $key, $_ := $v -}}
{{- if eq $key "refreshIntervalMinutes" -}}
{{- fail "githubApp.refreshIntervalMinutes is gone: write githubApp.refreshInterval as a duration, e.g. 45m (1m..55m), as in the ghapp-tokens chart" -}}
{{- end -}}
{{- if not (has $key $known) -}}
{{- fail (printf "githubApp.%s is not a value of the ghapp-token-sidecar library (a typo?): it takes %s" $key (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- $mode := toString ($v.mode | default "secrets") -}}
{{- if not (has $mode (list "secrets" "brokered")) -}}
{{- fail "githubApp.mode must be secrets (the App key from githubApp.secretName) or brokered (tokens from the runner broker, no key in the pod)" -}}
{{- end -}}
{{- if eq $mode "brokered" -}}
{{- include "ghapp-token-sidecar.brokerValues" $v -}}
{{- else -}}
{{- if and $v.broker (or (not (kindIs "map" $v.broker)) (get $v.broker "url")) -}}
{{- fail "githubApp.broker is set but githubApp.mode is secrets: the modes do not mix; set githubApp.mode: brokered (and remove githubApp.secretName), or remove githubApp.broker" -}}
{{- end -}}
{{- if not $v.secretName -}}
{{- fail "githubApp.secretName is required when githubApp.enabled: name the Secret with keys appId and privateKey (e.g. github-app-rex, synced by the ghapp-tokens chart)" -}}
{{- end -}}
{{- include "ghapp-token-sidecar.check" (list "githubApp.secretName" $v.secretName "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" 253 "a Secret name (lowercase letters, digits, '-' and '.')") -}}
{{- end -}}
{{- $image := $v.image | default dict -}}
{{- with $image.repository }}{{ include "ghapp-token-sidecar.check" (list "githubApp.image.repository" . "^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$" 255 "an image repository such as ghcr.io/ghapp-tokens/ghapp-token") }}{{ end -}}
{{- with $image.tag }}{{ include "ghapp-token-sidecar.check" (list "githubApp.image.tag" (toString .) "^[A-Za-z0-9_][A-Za-z0-9_.-]*$" 128 "an image tag (letters, digits, '_', '.' and '-')") }}{{ end -}}
{{- if eq (toString $image.tag) "latest" -}}
{{- fail "githubApp.image.tag is \"latest\": pin a version (leave it empty for this library's appVersion)" -}}
{{- end -}}
{{- with $v.apiUrl }}{{ include "ghapp-token-sidecar.check" (list "githubApp.apiUrl" . "^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+,;=:@/]*)?$" 2048 "an http(s) URL such as https://github.example.com/api/v3") }}{{ end -}}
{{- with $v.installationId }}{{ include "ghapp-token-sidecar.check" (list "githubApp.installationId" (toString .) "^[0-9]{1,20}$" 20 "digits (quote them)") }}{{ end -}}
{{- with $v.owner }}{{ include "ghapp-token-sidecar.check" (list "githubApp.owner" . "^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$" 39 "a GitHub organization or user login") }}{{ end -}}
{{- with $v.repositories }}{{ include "ghapp-token-sidecar.check" (list "githubApp.repositories" . "^[A-Za-z0-9._/-]+(,[A-Za-z0-9._/-]+)*$" 4096 "a comma list of repo or owner/repo") }}{{ end -}}
{{- with $v.permissions }}{{ include "ghapp-token-sidecar.check" (list "githubApp.permissions" . "^[a-z_]+=(read|write|admin)(,[a-z_]+=(read|write|admin))*$" 4096 "a comma list of name=level (read, write, admin)") }}{{ end -}}
{{- if not (has (toString ($v.tokenFileMode | default "0600")) (list "0600" "0640" "0400" "0440")) -}}
{{- fail "githubApp.tokenFileMode must be 0600 (same UID) or 0640 (readers in the pod's fsGroup), or 0400 / 0440; quote it" -}}
{{- end -}}
{{- with $v.refreshInterval }}{{ include "ghapp-token-sidecar.duration" (list "githubApp.refreshInterval" . 60 3300 "1m and 55m: an installation token lives one hour") }}{{ end -}}
{{- with $v.requestTimeout }}{{ include "ghapp-token-sidecar.duration" (list "githubApp.requestTimeout" . 1 300 "1s and 5m") }}{{ end -}}
{{- with $v.maxRetryWait }}{{ include "ghapp-token-sidecar.duration" (list "githubApp.maxRetryWait" . 0 3600 "0s and 1h") }}{{ end -}}
{{- if and (hasKey $v "revokeOnExit") (not (kindIs "bool" $v.revokeOnExit)) -}}
{{- fail "githubApp.revokeOnExit must be true or false" -}}
{{- end -}}
{{- if and $v.resources (not (kindIs "map" $v.resources)) -}}
{{- fail "githubApp.resources must be a map of requests and limits" -}}
{{- end -}}
{{- end -}}
{{- toYaml $v -}}
{{- end -}}

{{- define "ghapp-token-sidecar.initContainers" -}}
{{- $v := include "ghapp-token-sidecar.values" . | fromYaml -}}
{{- if $v.enabled }}
{{- $image := $v.image | default dict }}
- name: github-app-token
  image: {{ printf "%s:%s" ($image.repository | default "ghcr.io/ghapp-tokens/ghapp-token") (toString ($image.tag | default "0.1.0")) | quote }}
  args: ["refresh"]
  # A native sidecar: started before the app containers, kept running beside them.
  restartPolicy: Always
  env:
    {{- if eq (toString $v.mode) "brokered" }}
    - name: BROKER_URL
      value: {{ $v.broker.url | quote }}
    - name: OIDC_TOKEN_FILE
      value: /var/run/secrets/ghapp-broker/token
    {{- if $v.broker.caConfigMap }}
    - name: BROKER_CA_FILE
      value: /etc/ghapp-tokens/broker-ca/ca.crt
    {{- end }}
    {{- else }}
    - name: APP_ID
      valueFrom:
        secretKeyRef:
          name: {{ $v.secretName | quote }}
          key: appId
    - name: PRIVATE_KEY_FILE
      value: /var/run/github-app/privateKey
    {{- end }}
    - name: OUTPUT_PATH
      value: /var/run/github/token
    - name: TOKEN_FILE_MODE
      value: {{ $v.tokenFileMode | default "0600" | toString | quote }}
    - name: GITHUB_API_URL
      value: {{ $v.apiUrl | default "https://api.github.com" | quote }}
    - name: LISTEN_ADDR
      value: "0.0.0.0:8080"
    - name: REVOKE_ON_EXIT
      {{- if eq (toString $v.mode) "brokered" }}
      # The broker hands one cached token to every pod of a scope: revoking it would cut them off.
      value: "false"
      {{- else }}
      value: {{ ternary "true" "false" (or (not (hasKey $v "revokeOnExit")) $v.revokeOnExit) | quote }}
      {{- end }}
    {{- range $name, $env := dict "refreshInterval" "REFRESH_INTERVAL" "requestTimeout" "REQUEST_TIMEOUT" "maxRetryWait" "MAX_RETRY_WAIT" "installationId" "INSTALLATION_ID" "owner" "OWNER" "repositories" "REPOSITORIES" "permissions" "PERMISSIONS" }}
    {{- with (get $v $name) }}
    - name: {{ $env }}
      value: {{ . | toString | quote }}
    {{- end }}
    {{- end }}
  ports:
    - name: gh-token-health
      containerPort: 8080
  # The app containers start only once the first token is on disk (/readyz). Liveness is /livez:
  # whether the process and its refresh loop work, never whether GitHub answers, so an outage does
  # not restart the sidecar (CONTRACTS.md "Sidecar health endpoints").
  startupProbe:
    httpGet:
      path: /readyz
      port: gh-token-health
    periodSeconds: 1
    failureThreshold: 120
  readinessProbe:
    httpGet:
      path: /readyz
      port: gh-token-health
    periodSeconds: 10
  livenessProbe:
    httpGet:
      path: /livez
      port: gh-token-health
    periodSeconds: 30
    failureThreshold: 6
  volumeMounts:
    {{- if eq (toString $v.mode) "brokered" }}
    - name: github-broker-token
      mountPath: /var/run/secrets/ghapp-broker
      readOnly: true
    {{- if $v.broker.caConfigMap }}
    - name: github-broker-ca
      mountPath: /etc/ghapp-tokens/broker-ca
      readOnly: true
    {{- end }}
    {{- else }}
    - name: github-app-key
      mountPath: /var/run/github-app
      readOnly: true
    {{- end }}
    - name: github-token
      mountPath: /var/run/github
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
  resources:
    {{- toYaml ($v.resources | default (dict "requests" (dict "cpu" "10m" "memory" "64Mi") "limits" (dict "cpu" "200m" "memory" "128Mi"))) | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "ghapp-token-sidecar.volumes" -}}
{{- $v := include "ghapp-token-sidecar.values" . | fromYaml -}}
{{- if $v.enabled }}
- name: github-token
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- if eq (toString $v.mode) "brokered" }}
# The pod's service-account token for the broker's audience (never mounted into the app containers).
- name: github-broker-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          audience: {{ $v.broker.audience | default "ghapp-runner-broker" | quote }}
          expirationSeconds: {{ int ($v.broker.tokenExpirationSeconds | default 600) }}
          path: token
{{- if $v.broker.caConfigMap }}
- name: github-broker-ca
  configMap:
    name: {{ $v.broker.caConfigMap | quote }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- else }}
- name: github-app-key
  secret:
    secretName: {{ $v.secretName | quote }}
    items:
      - key: privateKey
        path: privateKey
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end -}}

{{- define "ghapp-token-sidecar.volumeMounts" -}}
{{- $v := include "ghapp-token-sidecar.values" . | fromYaml -}}
{{- if $v.enabled }}
- name: github-token
  mountPath: /var/run/github
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ghapp-token-sidecar.env" -}}
{{- $v := include "ghapp-token-sidecar.values" . | fromYaml -}}
{{- if $v.enabled }}
- name: GITHUB_TOKEN_FILE
  value: /var/run/github/token
{{- end }}
{{- end -}}
