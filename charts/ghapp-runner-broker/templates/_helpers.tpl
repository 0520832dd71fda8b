{{/*
Names, labels, the image reference, the broker's environment and validation.

Every value that reaches YAML is checked here (a `fail` naming the value and the fix, never echoing
it) and rendered with `quote` or `toYaml`. The same rules are in values.schema.json; these `fail`s
also hold with --skip-schema-validation. Names are never truncated: a name Kubernetes would reject is
refused. The App's credentials (store, ExternalSecret) are validated by the ghapp-tokens chart this
chart depends on (alias `credentials`).
*/}}

{{- define "ghapp-runner-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride -}}
{{- end -}}

{{/*
The objects' name: fullnameOverride, or the release name when it says runner-broker (helm install
runner-broker ... names everything runner-broker), else the release name plus -runner-broker.
*/}}
{{- define "ghapp-runner-broker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride -}}
{{- else if contains "runner-broker" .Release.Name -}}
{{- .Release.Name -}}
{{- else -}}
{{- printf "%s-runner-broker" .Release.Name -}}
{{- end -}}
{{- end -}}

{{- define "ghapp-runner-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ghapp-runner-broker.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "ghapp-runner-broker.labels" -}}
{{ include "ghapp-runner-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: runner-broker
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ghapp-runner-broker.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "ghapp-runner-broker.fullname" .) -}}
{{- end -}}

{{/* The Secret with appId and privateKey: the existing one, or the one the ExternalSecret writes. */}}
{{- define "ghapp-runner-broker.appSecretName" -}}
{{- if .Values.githubApp.existingSecret -}}
{{- .Values.githubApp.existingSecret -}}
{{- else -}}
{{- $es := .Values.credentials.externalSecrets | default dict -}}
{{- printf "%s%s" ($es.secretPrefix | default "github-app-") (first .Values.credentials.apps).name -}}
{{- end -}}
{{- end -}}

{{- define "ghapp-runner-broker.policyConfigMapName" -}}
{{- .Values.policies.existingConfigMap | default (printf "%s-policies" (include "ghapp-runner-broker.fullname" .)) -}}
{{- end -}}

{{/* "true" when the pod reads a policy file: rendered from values, or an existing ConfigMap. */}}
{{- define "ghapp-runner-broker.hasPolicyFile" -}}
{{- if or .Values.policies.items .Values.policies.trustPolicies .Values.policies.existingConfigMap -}}true{{- end -}}
{{- end -}}

{{/*
The policy file rendered from values, as JSON (the ConfigMap writes it as YAML; the pods' checksum is
of this text): the plain list of label policies, or, with trust policies, the mapping
{label_policies, trust_policies} POLICY_FILE also reads (generator/src/broker/policy-file.ts).
*/}}
{{- define "ghapp-runner-broker.policyDocument" -}}
{{- if .Values.policies.trustPolicies -}}
{{- toJson (dict "label_policies" (.Values.policies.items | default list) "trust_policies" .Values.policies.trustPolicies) -}}
{{- else -}}
{{- toJson .Values.policies.items -}}
{{- end -}}
{{- end -}}

{{/* ISSUER_JWKS_FILES: each issuers.jwks entry's issuer and the file its ConfigMap key is mounted as. */}}
{{- define "ghapp-runner-broker.issuerJwksFiles" -}}
{{- $p := include "ghapp-runner-broker.paths" . | fromYaml -}}
{{- $pairs := list -}}
{{- range $i, $j := .Values.issuers.jwks -}}
{{- $pairs = append $pairs (printf "%s=%s/%d/jwks.json" $j.issuer $p.issuerDir $i) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{- define "ghapp-runner-broker.claimName" -}}
{{- .Values.database.sqlite.persistence.existingClaim | default (printf "%s-data" (include "ghapp-runner-broker.fullname" .)) -}}
{{- end -}}

{{/* "true" when a PodDisruptionBudget is rendered: PostgreSQL with more than one replica. */}}
{{- define "ghapp-runner-broker.rendersPdb" -}}
{{- if and .Values.podDisruptionBudget.enabled (eq .Values.database.type "postgres") (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* The broker image, pinned to the chart's appVersion unless a tag or digest is given. */}}
{{- define "ghapp-runner-broker.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Where the pod's files are: the image, the chart and tests/chart/broker-pod.test.ts agree on these. */}}
{{- define "ghapp-runner-broker.paths" -}}
keyDir: /var/run/github-app
caDir: /etc/ghapp-runner-broker/ca
policyDir: /etc/ghapp-runner-broker/policies
issuerDir: /etc/ghapp-runner-broker/issuers
webhookDir: /var/run/secrets/ghapp-runner-broker/webhook
dataDir: /var/lib/runner-broker
{{- end -}}

{{/*
The broker's environment (docs/runner-broker.md's table): plain settings as values, the App ID and
a PostgreSQL DATABASE_URL from Secrets. The private key and policies are files.
*/}}
{{- define "ghapp-runner-broker.env" -}}
{{- $p := include "ghapp-runner-broker.paths" . | fromYaml -}}
{{- $b := .Values.broker -}}
- name: GITHUB_APP_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "ghapp-runner-broker.appSecretName" . | quote }}
      key: appId
- name: GITHUB_APP_PRIVATE_KEY_FILE
  value: {{ printf "%s/privateKey" $p.keyDir | quote }}
{{- if .Values.github.orgs }}
- name: GITHUB_ORGS
  value: {{ join "," .Values.github.orgs | quote }}
{{- else }}
- name: GITHUB_ORG
  value: {{ .Values.github.org | quote }}
{{- end }}
{{- with .Values.github.installationId }}
- name: GITHUB_APP_INSTALLATION_ID
  value: {{ . | quote }}
{{- end }}
- name: GITHUB_API_URL
  value: {{ .Values.github.apiUrl | quote }}
- name: GITHUB_URL
  value: {{ .Values.github.url | quote }}
{{- with .Values.github.allowedRepositoryOwners }}
- name: ALLOWED_REPOSITORY_OWNERS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.github.defaultRunnerGroupId }}
- name: DEFAULT_RUNNER_GROUP_ID
  value: {{ . | quote }}
{{- end }}
{{- if .Values.github.manageRunnerGroups }}
- name: MANAGE_RUNNER_GROUPS
  value: "true"
{{- end }}
{{- if eq .Values.database.type "postgres" }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.postgres.existingSecret | quote }}
      key: {{ .Values.database.postgres.key | quote }}
{{- else }}
{{- /* A path on the pod's volume, not a credential: SQLite has no password. */}}
- name: DATABASE_URL
  value: {{ printf "sqlite://%s/broker.db" $p.dataDir | quote }}
{{- end }}
- name: LISTEN_ADDR
  value: "0.0.0.0:8000"
- name: OIDC_ISSUER
  value: {{ .Values.oidc.issuer | quote }}
- name: OIDC_AUDIENCE
  value: {{ .Values.oidc.audience | quote }}
{{- with .Values.oidc.jwksUrl }}
- name: OIDC_JWKS_URL
  value: {{ . | quote }}
{{- end }}
- name: OIDC_IDENTITY_CLAIM
  value: {{ .Values.oidc.identityClaim | quote }}
{{- with .Values.adminIdentities }}
- name: ADMIN_IDENTITIES
  value: {{ join "," . | quote }}
{{- end }}
{{- if include "ghapp-runner-broker.hasPolicyFile" . }}
- name: POLICY_FILE
  value: {{ printf "%s/policies.yaml" $p.policyDir | quote }}
{{- end }}
{{- range $name, $key := dict "PENDING_RUNNER_TTL" "pendingRunnerTtl" "OFFLINE_RUNNER_TTL" "offlineRunnerTtl" "SYNC_INTERVAL" "syncInterval" "CALLER_RATE_LIMIT" "callerRateLimit" "REQUEST_TIMEOUT" "requestTimeout" "MAX_RETRY_WAIT" "maxRetryWait" }}
{{- with get $b $key }}
- name: {{ $name }}
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with .Values.tokens.rateLimit }}
- name: TOKEN_RATE_LIMIT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.tokens.mintRateLimit }}
- name: TOKEN_MINT_RATE_LIMIT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.issuers.jwks }}
- name: ISSUER_JWKS_FILES
  value: {{ include "ghapp-runner-broker.issuerJwksFiles" . | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ $b.logLevel | quote }}
{{- if .Values.github.caConfigMap }}
- name: NODE_EXTRA_CA_CERTS
  value: {{ printf "%s/ca.crt" $p.caDir | quote }}
{{- end }}
{{- if .Values.webhook.existingSecret }}
- name: GITHUB_WEBHOOK_SECRET_FILE
  value: {{ printf "%s/secret" $p.webhookDir | quote }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------
Validation. Each check names the value, says what is wrong and how to fix it, and never prints the
value itself. Patterns are Go regular expressions: `$` is the end of the text.
*/}}
{{- define "ghapp-runner-broker.rules" -}}
label: {pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', max: 63, says: "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"}
subdomain: {pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', max: 253, says: "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"}
login: {pattern: '^[A-Za-z0-9]([-A-Za-z0-9]{0,37}[A-Za-z0-9])?$', max: 39, says: "a GitHub organisation or user login (letters, digits and '-')"}
digits: {pattern: '^[0-9]{1,19}$', max: 19, says: "digits, quoted (e.g. \"12345\")"}
duration: {pattern: '^([0-9]+(ms|s|m|h))+$', max: 32, says: "a duration such as 90s, 15m, 1h or 1h30m (units ms, s, m, h; a bare number has no unit)"}
httpsIssuer: {pattern: '^https://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+;=:@/]*)?$', max: 512, says: "the https issuer its tokens carry in iss, exactly (no spaces, commas or query), e.g. https://kubernetes.default.svc.cluster.local; kubectl get --raw /.well-known/openid-configuration prints it"}
configMapKey: {pattern: '^[-._a-zA-Z0-9]+$', max: 253, says: "a ConfigMap key (letters, digits, '-', '_' and '.')"}
url: {pattern: '^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+,;=:@/]*)?$', max: 2048, says: "an http(s) URL without spaces, quotes or a query, such as https://token.actions.githubusercontent.com"}
repository: {pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$', max: 255, says: "an image repository such as ghcr.io/ghapp-tokens/ghapp-runner-broker (lowercase; a registry port is allowed)"}
tag: {pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', max: 128, says: "an image tag (letters, digits, '_', '.' and '-', not starting with '.' or '-')"}
digest: {pattern: '^sha256:[a-f0-9]{64}$', max: 71, says: "an image digest sha256:<64 hex digits>"}
claim: {pattern: '^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$', max: 64, says: "a claim name such as sub, repository or job_workflow_ref"}
identity: {pattern: '^[^,\x00-\x1f\x7f]+$', max: 512, says: "one identity (the value of oidc.identityClaim in a token), without commas or control characters"}
audience: {pattern: '^[^,\s\x00-\x1f\x7f]+$', max: 256, says: "one audience without spaces or commas"}
{{- end -}}

{{/* Fails unless .value follows rule .rule: (dict "root" $ "path" "github.org" "value" x "rule" "login" "fix" "..."). */}}
{{- define "ghapp-runner-broker.check" -}}
{{- $rule := get (include "ghapp-runner-broker.rules" .root | fromYaml) .rule -}}
{{- if not (kindIs "string" .value) -}}
{{- fail (printf "%s must be a string (quote it in the values): it must be %s" .path $rule.says) -}}
{{- end -}}
{{- if or (gt (len .value) (int $rule.max)) (not (regexMatch $rule.pattern .value)) -}}
{{- fail (printf "%s must be %s, at most %d characters%s" .path $rule.says (int $rule.max) (.fix | default "")) -}}
{{- end -}}
{{- end -}}

{{/* Every value the broker's Deployment (and its Service, Ingress, ...) is made of. */}}
{{- define "ghapp-runner-broker.validate" -}}
{{- $v := .Values -}}
{{- with $v.nameOverride }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "nameOverride" "value" . "rule" "label") }}{{ end -}}
{{- with $v.fullnameOverride }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "fullnameOverride" "value" . "rule" "label") }}{{ end -}}
{{- $full := include "ghapp-runner-broker.fullname" . -}}
{{- if gt (len $full) 54 -}}
{{- fail (printf "the objects' name (release name and chart name) is %d characters; with the suffix -policies it must stay within Kubernetes' 63, and the chart never truncates: use a shorter release name or set fullnameOverride (at most 54 characters)" (len $full)) -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "image.repository" "value" $v.image.repository "rule" "repository") -}}
{{- with $v.image.tag -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "image.tag" "value" . "rule" "tag") -}}
{{- if eq . "latest" -}}
{{- fail "image.tag is latest, which would run whatever was pushed last: leave it empty for the chart's appVersion, or pin a version" -}}
{{- end -}}
{{- end -}}
{{- with $v.image.digest }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "image.digest" "value" . "rule" "digest") }}{{ end -}}
{{- /* GitHub */ -}}
{{- if and $v.github.org $v.github.orgs -}}
{{- fail "github.org and github.orgs are both set: keep github.org for one organisation, or list every organisation in github.orgs and empty github.org" -}}
{{- end -}}
{{- if $v.github.orgs -}}
{{- range $i, $org := $v.github.orgs -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "github.orgs[%d]" $i) "value" $org "rule" "login") -}}
{{- end -}}
{{- if and (gt (len $v.github.orgs) 1) $v.github.installationId -}}
{{- fail "github.installationId is set with several organisations in github.orgs: empty it, the broker finds each organisation's installation" -}}
{{- end -}}
{{- else -}}
{{- if not $v.github.org -}}
{{- fail "github.org is empty: give the login of the organisation whose runners the broker manages, e.g. --set github.org=acme-org (or list several in github.orgs)" -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "github.org" "value" $v.github.org "rule" "login") -}}
{{- end -}}
{{- with $v.github.installationId }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "github.installationId" "value" . "rule" "digits" "fix" ": copy it from the installation's settings URL, or leave it empty") }}{{ end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "github.apiUrl" "value" $v.github.apiUrl "rule" "url") -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "github.url" "value" $v.github.url "rule" "url") -}}
{{- with $v.github.caConfigMap }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "github.caConfigMap" "value" . "rule" "subdomain") }}{{ end -}}
{{- range $i, $owner := $v.github.allowedRepositoryOwners -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "github.allowedRepositoryOwners[%d]" $i) "value" $owner "rule" "login") -}}
{{- end -}}
{{- with $v.github.defaultRunnerGroupId }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "github.defaultRunnerGroupId" "value" . "rule" "digits" "fix" ": the id of the runner group, from the organisation's runner group settings or GET /orgs/ORG/actions/runner-groups") }}{{ end -}}
{{- /* The App's credentials */ -}}
{{- if and $v.githubApp.existingSecret $v.githubApp.externalSecret.enabled -}}
{{- fail "githubApp.existingSecret is set and githubApp.externalSecret.enabled is true: the broker reads one Secret; set githubApp.externalSecret.enabled=false to use the existing one, or empty githubApp.existingSecret" -}}
{{- end -}}
{{- if not (or $v.githubApp.existingSecret $v.githubApp.externalSecret.enabled) -}}
{{- fail "the App's credentials have no source: set githubApp.existingSecret to a Secret with the keys appId and privateKey, or githubApp.externalSecret.enabled=true (and the store under credentials)" -}}
{{- end -}}
{{- with $v.githubApp.existingSecret }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "githubApp.existingSecret" "value" . "rule" "subdomain") }}{{ end -}}
{{- if and $v.githubApp.externalSecret.enabled (ne (len ($v.credentials.apps | default list)) 1) -}}
{{- fail (printf "credentials.apps lists %d Apps, but the broker runs as exactly one: list one, e.g. credentials.apps: [{name: runner-broker}]" (len ($v.credentials.apps | default list))) -}}
{{- end -}}
{{- /* OIDC */ -}}
{{- if not $v.oidc.issuer -}}
{{- fail "oidc.issuer is empty: give your callers' OIDC issuer, e.g. https://token.actions.githubusercontent.com (authentication cannot be turned off)" -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "oidc.issuer" "value" $v.oidc.issuer "rule" "url") -}}
{{- if not $v.oidc.audience -}}
{{- fail "oidc.audience is empty: choose the audience callers request their tokens for, e.g. ghapp-runner-broker" -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "oidc.audience" "value" $v.oidc.audience "rule" "audience") -}}
{{- with $v.oidc.jwksUrl }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "oidc.jwksUrl" "value" . "rule" "url") }}{{ end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "oidc.identityClaim" "value" $v.oidc.identityClaim "rule" "claim") -}}
{{- range $i, $id := $v.adminIdentities -}}
{{- if eq (toString $id) "*" -}}
{{- fail (printf "adminIdentities[%d] is \"*\": name each administrator's identity (the value of oidc.identityClaim in their token)" $i) -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "adminIdentities[%d]" $i) "value" $id "rule" "identity") -}}
{{- end -}}
{{- /* Broker settings */ -}}
{{- if not (has $v.broker.logLevel (list "debug" "info" "warn" "error")) -}}
{{- fail "broker.logLevel must be debug, info, warn or error" -}}
{{- end -}}
{{- range $key := list "pendingRunnerTtl" "offlineRunnerTtl" "syncInterval" "requestTimeout" "maxRetryWait" -}}
{{- with get $v.broker $key }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "broker.%s" $key) "value" . "rule" "duration") }}{{ end -}}
{{- end -}}
{{- with $v.broker.callerRateLimit }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "broker.callerRateLimit" "value" . "rule" "digits" "fix" ": requests per minute per identity, e.g. \"120\"") }}{{ end -}}
{{- /* The token exchange */ -}}
{{- with $v.tokens.rateLimit }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "tokens.rateLimit" "value" . "rule" "digits" "fix" ": token exchanges per minute per identity, e.g. \"600\"") }}{{ end -}}
{{- with $v.tokens.mintRateLimit }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "tokens.mintRateLimit" "value" . "rule" "digits" "fix" ": new installation tokens per minute per identity, e.g. \"10\"") }}{{ end -}}
{{- $issuers := dict -}}
{{- range $i, $j := $v.issuers.jwks -}}
{{- $at := printf "issuers.jwks[%d]" $i -}}
{{- if not (kindIs "map" $j) -}}
{{- fail (printf "%s must be an object {issuer, configMap, key}, e.g. {issuer: https://kubernetes.default.svc.cluster.local, configMap: cluster-a-issuer, key: jwks.json}" $at) -}}
{{- end -}}
{{- if not $j.issuer -}}
{{- fail (printf "%s has no issuer: give the https issuer whose keys the ConfigMap holds, exactly as its tokens carry it in iss (kubectl get --raw /.well-known/openid-configuration | jq -r .issuer), e.g. https://kubernetes.default.svc.cluster.local" $at) -}}
{{- end -}}
{{- if not (hasPrefix "https://" (toString $j.issuer)) -}}
{{- fail (printf "%s.issuer is not an https URL: the broker trusts only https issuers; give the issuer exactly as its tokens carry it in iss, e.g. https://kubernetes.default.svc.cluster.local" $at) -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "%s.issuer" $at) "value" $j.issuer "rule" "httpsIssuer") -}}
{{- with get $issuers $j.issuer -}}
{{- fail (printf "%s.issuer is also %s's: the broker reads one key file per issuer; during a key rotation put both keys in one key set (one ConfigMap key)" $at .) -}}
{{- end -}}
{{- $_ := set $issuers $j.issuer $at -}}
{{- if not $j.configMap -}}
{{- fail (printf "%s has no configMap: name the ConfigMap (in the release's namespace) holding the issuer's key set, e.g. the output of kubectl get --raw /openid/v1/jwks against the workload cluster: kubectl create configmap cluster-a-issuer --from-file=jwks.json" $at) -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "%s.configMap" $at) "value" $j.configMap "rule" "subdomain") -}}
{{- with $j.key }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" (printf "%s.key" $at) "value" . "rule" "configMapKey") }}{{ end -}}
{{- end -}}
{{- /* Policies */ -}}
{{- if and $v.policies.items $v.policies.existingConfigMap -}}
{{- fail "policies.items and policies.existingConfigMap are both set: the broker reads one policy file; keep the list in one of them" -}}
{{- end -}}
{{- if and $v.policies.trustPolicies $v.policies.existingConfigMap -}}
{{- fail "policies.trustPolicies and policies.existingConfigMap are both set: the broker reads one policy file; put the trust policies in that ConfigMap's policies.yaml (a mapping with label_policies and trust_policies lists), or empty policies.existingConfigMap to render both lists from values" -}}
{{- end -}}
{{- $names := dict -}}
{{- range $i, $p := $v.policies.trustPolicies -}}
{{- if not (kindIs "map" $p) -}}
{{- fail (printf "policies.trustPolicies[%d] must be a trust policy object in the API's shape, e.g. {name: team-a-deployer, issuer: https://kubernetes.default.svc.cluster.local, audience: ghapp-runner-broker, subject: system:serviceaccount:team-a:deployer, owner: acme-org, repositories: [api], permissions: {contents: read}}" $i) -}}
{{- end -}}
{{- if not $p.name -}}
{{- fail (printf "policies.trustPolicies[%d] has no name: give each trust policy a unique name (lowercase letters, digits, '.', '_' and '-'), e.g. team-a-deployer" $i) -}}
{{- end -}}
{{- $name := toString $p.name -}}
{{- with get $names $name -}}
{{- fail (printf "policies.trustPolicies[%d] has the same name as policies.trustPolicies[%s]: names are unique (the broker refuses the file and does not start); rename one" $i .) -}}
{{- end -}}
{{- $_ := set $names $name (printf "%d" $i) -}}
{{- end -}}
{{- with $v.policies.existingConfigMap }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "policies.existingConfigMap" "value" . "rule" "subdomain") }}{{ end -}}
{{- range $i, $p := $v.policies.items -}}
{{- if not (kindIs "map" $p) -}}
{{- fail (printf "policies.items[%d] must be a policy object, e.g. {user_identity: \"*\", allowed_labels: [linux-small]}" $i) -}}
{{- end -}}
{{- if not $p.user_identity -}}
{{- fail (printf "policies.items[%d] has no user_identity: name the caller identity it is for, or \"*\" for everyone without a policy of their own" $i) -}}
{{- end -}}
{{- end -}}
{{- /* Database */ -}}
{{- if not (has $v.database.type (list "sqlite" "postgres")) -}}
{{- fail "database.type must be sqlite (one replica, a volume) or postgres (several replicas, DATABASE_URL from database.postgres.existingSecret)" -}}
{{- end -}}
{{- if lt (int $v.replicaCount) 1 -}}
{{- fail "replicaCount must be at least 1" -}}
{{- end -}}
{{- if and (eq $v.database.type "sqlite") (gt (int $v.replicaCount) 1) -}}
{{- fail (printf "replicaCount is %d but database.type is sqlite, whose one file serves one broker: set replicaCount=1, or use PostgreSQL for several replicas (database.type=postgres, database.postgres.existingSecret=<Secret with DATABASE_URL>)" (int $v.replicaCount)) -}}
{{- end -}}
{{- if eq $v.database.type "postgres" -}}
{{- if not $v.database.postgres.existingSecret -}}
{{- fail "database.type is postgres but database.postgres.existingSecret is empty: create a Secret with the key DATABASE_URL (postgres://USER:PASSWORD@HOST:5432/DB) and name it here; the URL is never a plain value" -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "database.postgres.existingSecret" "value" $v.database.postgres.existingSecret "rule" "subdomain") -}}
{{- if not $v.database.postgres.key -}}
{{- fail "database.postgres.key is empty: name the key of database.postgres.existingSecret holding the URL, e.g. DATABASE_URL" -}}
{{- end -}}
{{- end -}}
{{- if and (include "ghapp-runner-broker.rendersPdb" $) (ge (int $v.podDisruptionBudget.maxUnavailable) (int $v.replicaCount)) -}}
{{- fail (printf "podDisruptionBudget.maxUnavailable (%d) lets a node drain take every one of the %d replicas: set it below replicaCount, e.g. 1" (int $v.podDisruptionBudget.maxUnavailable) (int $v.replicaCount)) -}}
{{- end -}}
{{- with $v.database.sqlite.persistence.existingClaim }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "database.sqlite.persistence.existingClaim" "value" . "rule" "subdomain") }}{{ end -}}
{{- /* Webhook, Service, Ingress */ -}}
{{- with $v.webhook.existingSecret }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "webhook.existingSecret" "value" . "rule" "subdomain") }}{{ end -}}
{{- with $v.serviceAccount.name }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "serviceAccount.name" "value" . "rule" "subdomain") }}{{ end -}}
{{- if $v.ingress.enabled -}}
{{- if not $v.ingress.host -}}
{{- fail "ingress.enabled needs ingress.host: the host name callers reach the broker at, e.g. broker.example.com" -}}
{{- end -}}
{{- include "ghapp-runner-broker.check" (dict "root" $ "path" "ingress.host" "value" $v.ingress.host "rule" "subdomain") -}}
{{- with $v.ingress.tls.secretName }}{{ include "ghapp-runner-broker.check" (dict "root" $ "path" "ingress.tls.secretName" "value" . "rule" "subdomain") }}{{ end -}}
{{- end -}}
{{- end -}}
