{{/*
Names, labels, the image reference, remote references, Argo expression escaping and validation.

Every value that reaches YAML is checked here (a `fail` naming the value and the fix, never echoing
it) and rendered with `quote` or `toYaml`, so no value can add keys, containers or documents. The
same rules are in values.schema.json; these `fail`s also hold with --skip-schema-validation.
Names are never truncated: a name Kubernetes would reject, or one that would collide with another,
is refused. Each template calls the checks of what it renders, so an error is reported at the
template of the object concerned.
*/}}

{{- define "ghapp-tokens.name" -}}
{{- default .Chart.Name .Values.nameOverride -}}
{{- end -}}

{{- define "ghapp-tokens.labels" -}}
app.kubernetes.io/name: {{ include "ghapp-tokens.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Secret an app's credentials are synced into: github-app-<app>. */}}
{{- define "ghapp-tokens.appSecretName" -}}
{{- printf "%s%s" .root.Values.externalSecrets.secretPrefix .app -}}
{{- end -}}

{{/* An app's layout: perKey (one remote secret per credential) or perApp (one JSON secret). */}}
{{- define "ghapp-tokens.layout" -}}
{{- .app.layout | default .root.Values.externalSecrets.layout -}}
{{- end -}}

{{/*
The remoteRef of an app's appId or privateKey, as a dict {key, property?}. perKey: the app's
remoteKeys.<key>, else remoteKeyTemplate; perApp: the app's remoteKey, else remoteSecretTemplate,
with the property naming the field in the JSON (default: appId / privateKey). A property set for
the app, else externalSecrets.properties, always wins.
*/}}
{{- define "ghapp-tokens.remoteRef" -}}
{{- $es := .root.Values.externalSecrets -}}
{{- $ref := dict -}}
{{- $property := dig "properties" .key "" .app | default (get ($es.properties | default dict) .key) -}}
{{- if eq (include "ghapp-tokens.layout" .) "perApp" -}}
{{- $_ := set $ref "key" (.app.remoteKey | default ($es.remoteSecretTemplate | replace "{app}" .app.name)) -}}
{{- $property = $property | default .key -}}
{{- else -}}
{{- $_ := set $ref "key" (dig "remoteKeys" .key "" .app | default ($es.remoteKeyTemplate | replace "{app}" .app.name | replace "{key}" .key)) -}}
{{- end -}}
{{- with $property }}{{ $_ := set $ref "property" . }}{{ end -}}
{{- toJson $ref -}}
{{- end -}}

{{/*
The ExternalSecret that syncs an app's appId and privateKey into its Secret github-app-<app>: in
the release namespace for every app, and again in flux.namespace for the app Flux's token generator
reads. Takes (dict "root" $ "app" <apps entry> "namespace" <ns> "storeRef" <secretStoreRef dict>).
*/}}
{{- define "ghapp-tokens.appExternalSecret" -}}
{{- $root := .root -}}
{{- $name := include "ghapp-tokens.appSecretName" (dict "root" $root "app" .app.name) -}}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ $name | quote }}
  namespace: {{ .namespace | quote }}
  labels:
    {{- include "ghapp-tokens.labels" $root | nindent 4 }}
    ghapp-tokens.io/app: {{ .app.name | quote }}
spec:
  refreshInterval: {{ .app.refreshInterval | default $root.Values.externalSecrets.refreshInterval | quote }}
  secretStoreRef:
    {{- toYaml .storeRef | nindent 4 }}
  target:
    name: {{ $name | quote }}
    creationPolicy: {{ $root.Values.externalSecrets.creationPolicy | quote }}
    deletionPolicy: {{ $root.Values.externalSecrets.deletionPolicy | quote }}
  data:
    {{- include "ghapp-tokens.appCredentialsData" (dict "root" $root "app" .app) | nindent 4 }}
{{- end -}}

{{/* The ExternalSecret data entries appId and privateKey of an app, from their remote refs. */}}
{{- define "ghapp-tokens.appCredentialsData" -}}
{{- $data := list -}}
{{- range $key := list "appId" "privateKey" -}}
{{- $data = append $data (dict "secretKey" $key "remoteRef" (include "ghapp-tokens.remoteRef" (dict "root" $.root "app" $.app "key" $key) | fromJson)) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* The secretStoreRef of the release's ExternalSecrets. */}}
{{- define "ghapp-tokens.secretStoreRef" -}}
{{- toJson (dict "name" .Values.secretStore.name "kind" .Values.secretStore.kind) -}}
{{- end -}}

{{/* The ServiceAccount the store authenticates as (IRSA, workload identity), in a namespace. */}}
{{- define "ghapp-tokens.storeServiceAccount" -}}
{{- $sa := .root.Values.secretStore.serviceAccount -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $sa.name | quote }}
  namespace: {{ .namespace | quote }}
  labels:
    {{- include "ghapp-tokens.labels" .root | nindent 4 }}
  {{- with $sa.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The generator image, pinned to the chart's appVersion unless a tag or digest is given. */}}
{{- define "ghapp-tokens.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* test-github-app's image: workflowTemplates.testGithubApp.image, else the project's gh image of the
same release as the generator's (the Dockerfile's gh target, published as <repository>-gh). */}}
{{- define "ghapp-tokens.ghImage" -}}
{{- .Values.workflowTemplates.testGithubApp.image | default (printf "%s-gh:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}

{{/* An Argo expression, written so Helm leaves it alone: {{inputs.parameters.NAME}}. */}}
{{- define "ghapp-tokens.argoParam" -}}
{{- printf "{{inputs.parameters.%s}}" . -}}
{{- end -}}

{{/* The secret name for the app chosen by the workflow's github-app parameter. */}}
{{- define "ghapp-tokens.argoAppSecretName" -}}
{{- printf "%s%s" .Values.externalSecrets.secretPrefix (include "ghapp-tokens.argoParam" "github-app") -}}
{{- end -}}

{{/* GitHub host for gh (GH_HOST): empty for github.com, the host for GitHub Enterprise Server. */}}
{{- define "ghapp-tokens.githubHost" -}}
{{- $host := (urlParse .Values.github.apiUrl).host -}}
{{- if ne $host "api.github.com" -}}{{ $host }}{{- end -}}
{{- end -}}

{{/* UID and GID of the generator's containers: the image's distroless `nonroot` user. */}}
{{- define "ghapp-tokens.generatorUID" -}}65532{{- end -}}

{{/* The restricted security context of the generator's containers, and the main container's default. */}}
{{- define "ghapp-tokens.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ include "ghapp-tokens.generatorUID" . }}
runAsGroup: {{ include "ghapp-tokens.generatorUID" . }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The main container's security context: workflowTemplates.main.securityContext over the restricted default. */}}
{{- define "ghapp-tokens.mainSecurityContext" -}}
{{- $default := include "ghapp-tokens.containerSecurityContext" . | fromYaml -}}
{{- toYaml (mergeOverwrite $default (deepCopy (.Values.workflowTemplates.main.securityContext | default dict))) -}}
{{- end -}}

{{/*
The store's provider block: `secretStore.provider` as given (a provider set to null, as older values
files did to drop the former default, is left out), or, when it is empty, the default AWS Secrets
Manager block authenticated as the store's ServiceAccount (IRSA).
*/}}
{{- define "ghapp-tokens.provider" -}}
{{- $out := dict -}}
{{- range $name, $block := .Values.secretStore.provider -}}
{{- if not (kindIs "invalid" $block) -}}
{{- $_ := set $out $name $block -}}
{{- end -}}
{{- end -}}
{{- if not $out -}}
{{- $_ := set $out "aws" (dict "service" "SecretsManager" "region" .Values.secretStore.aws.region "auth" (dict "jwt" (dict "serviceAccountRef" (dict "name" .Values.secretStore.serviceAccount.name)))) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------
Validation. Each check names the value, says what is wrong and how to fix it, and never prints the
value itself (it may be anything). Patterns are Go regular expressions: `$` is the end of the text,
so no pattern admits a newline.
*/}}

{{/* Kubernetes and OCI naming rules. */}}
{{- define "ghapp-tokens.rules" -}}
label: {pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', max: 63, says: "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"}
subdomain: {pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', max: 253, says: "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"}
labelValue: {pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', max: 63, says: "a Kubernetes label value (letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"}
labelKey: {pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$', max: 317, says: "a Kubernetes label key (an optional DNS prefix and '/', then a name of letters, digits, '-', '_' and '.')"}
duration: {pattern: '^([0-9]+(ms|s|m|h))+$', max: 32, says: "a duration such as 90s, 45m, 1h or 1h30m (units ms, s, m, h)"}
repository: {pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$', max: 255, says: "an image repository such as ghcr.io/ghapp-tokens/ghapp-token (lowercase; a registry port is allowed)"}
tag: {pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', max: 128, says: "an image tag (letters, digits, '_', '.' and '-', not starting with '.' or '-')"}
image: {pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$', max: 400, says: "an image reference such as ghcr.io/ghapp-tokens/ghapp-token-gh:0.1.0 (repository, then :tag and/or @sha256:digest)"}
url: {pattern: '^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+,;=:@/]*)?$', max: 2048, says: "an http(s) URL without spaces, quotes or a query, such as https://github.example.com/api/v3"}
text: {pattern: '^[^\x00-\x1f\x7f]+$', max: 2048, says: "one line of text without control characters"}
envName: {pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$', max: 256, says: "an environment variable name"}
path: {pattern: '^/[-A-Za-z0-9._/]*$', max: 1024, says: "an absolute path of letters, digits, '-', '_', '.' and '/'"}
{{- end -}}

{{/*
Fails unless .value follows rule .rule; (dict "root" $ "path" "secretStore.name" "value" x "rule" "label" "fix" "...").
*/}}
{{- define "ghapp-tokens.check" -}}
{{- $rule := get (include "ghapp-tokens.rules" .root | fromYaml) .rule -}}
{{- $value := toString .value -}}
{{- if not (kindIs "string" .value) -}}
{{- fail (printf "%s must be a string (quote it in the values): it must be %s" .path $rule.says) -}}
{{- end -}}
{{- if or (gt (len $value) (int $rule.max)) (not (regexMatch $rule.pattern $value)) -}}
{{- fail (printf "%s must be %s, at most %d characters%s" .path $rule.says (int $rule.max) (.fix | default "" | printf "%s")) -}}
{{- end -}}
{{- end -}}

{{/* Seconds in a duration such as 30m, 1h, 1h30m, 90s or 500ms. */}}
{{- define "ghapp-tokens.durationSeconds" -}}
{{- $unit := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" (toString .) -1 -}}
{{- $number := regexFind "^[0-9]+" . -}}
{{- $total = addf $total (mulf (float64 $number) (get $unit (trimPrefix $number .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
A duration within limits (CONTRACTS.md "Durations": the same strings and limits as the binary):
(dict "root" $ "path" "..." "value" x "min" seconds "max" seconds "range" "1m..55m" "why" "...").
Empty values are left to the caller (most mean "the generator's default").
*/}}
{{- define "ghapp-tokens.checkDuration" -}}
{{- include "ghapp-tokens.check" (dict "root" .root "path" .path "value" .value "rule" "duration" "fix" ": a bare number has no unit, write e.g. 45m") -}}
{{- $seconds := include "ghapp-tokens.durationSeconds" .value | float64 -}}
{{- if or (lt $seconds (float64 .min)) (gt $seconds (float64 .max)) -}}
{{- fail (printf "%s must be between %s%s" .path .range (.why | default "")) -}}
{{- end -}}
{{- end -}}

{{/* Checks of what every object carries: its labels. */}}
{{- define "ghapp-tokens.validateCommon" -}}
{{- with .Values.nameOverride -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "nameOverride" "value" . "rule" "labelValue" "fix" ": it becomes the label app.kubernetes.io/name") -}}
{{- end -}}
{{- range $key, $value := .Values.commonLabels -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "commonLabels (a key)" "value" $key "rule" "labelKey") -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" (printf "commonLabels.%s" $key) "value" $value "rule" "labelValue") -}}
{{- end -}}
{{- end -}}

{{/* Checks of the app list and how each app's credentials are found in the store. */}}
{{- define "ghapp-tokens.validateApps" -}}
{{- $es := .Values.externalSecrets -}}
{{- if not .Values.apps -}}
{{- fail "apps is empty: list at least one GitHub App, e.g. apps: [{name: rex}]" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "externalSecrets.secretPrefix" "value" $es.secretPrefix "rule" "text") -}}
{{- if not (regexMatch "^[a-z0-9][-a-z0-9]*$" $es.secretPrefix) -}}
{{- fail "externalSecrets.secretPrefix must be lowercase letters, digits and '-', starting with a letter or digit (e.g. github-app-): it starts every app's Secret name" -}}
{{- end -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" "externalSecrets.refreshInterval" "value" $es.refreshInterval "min" 1 "max" 86400 "range" "1s and 24h") -}}
{{- if not (has $es.layout (list "perKey" "perApp")) -}}
{{- fail "externalSecrets.layout must be perKey (one remote secret per credential) or perApp (one JSON secret per App holding both)" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "externalSecrets.remoteKeyTemplate" "value" $es.remoteKeyTemplate "rule" "text") -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "externalSecrets.remoteSecretTemplate" "value" $es.remoteSecretTemplate "rule" "text") -}}
{{- range $key, $property := $es.properties -}}
{{- if not (has $key (list "appId" "privateKey")) -}}
{{- fail "externalSecrets.properties takes only the keys appId and privateKey" -}}
{{- end -}}
{{- with $property }}{{ include "ghapp-tokens.check" (dict "root" $ "path" (printf "externalSecrets.properties.%s" $key) "value" . "rule" "text") }}{{ end -}}
{{- end -}}
{{- if not (has $es.creationPolicy (list "Owner" "Orphan" "Merge" "None")) -}}
{{- fail "externalSecrets.creationPolicy must be Owner, Orphan, Merge or None" -}}
{{- end -}}
{{- if not (has $es.deletionPolicy (list "Delete" "Merge" "Retain")) -}}
{{- fail "externalSecrets.deletionPolicy must be Delete, Merge or Retain" -}}
{{- end -}}
{{- $names := list -}}
{{- range $i, $app := .Values.apps -}}
{{- $at := printf "apps[%d]" $i -}}
{{- if not $app.name -}}
{{- fail (printf "%s needs a name, e.g. {name: rex}" $at) -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" (printf "%s.name" $at) "value" $app.name "rule" "label" "fix" ": it names the app's Secret, label and template parameter") -}}
{{- if has $app.name $names -}}
{{- fail (printf "%s.name is listed twice (%s): each GitHub App must appear once" $at $app.name) -}}
{{- end -}}
{{- $names = append $names $app.name -}}
{{- $secret := include "ghapp-tokens.appSecretName" (dict "root" $ "app" $app.name) -}}
{{- if gt (len $secret) 63 -}}
{{- fail (printf "%s.name with externalSecrets.secretPrefix makes a Secret name of %d characters; Kubernetes allows 63 here, and the chart never truncates (two apps could collide): shorten the name or the prefix" $at (len $secret)) -}}
{{- end -}}
{{- with $app.refreshInterval -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" (printf "%s.refreshInterval" $at) "value" . "min" 1 "max" 86400 "range" "1s and 24h") -}}
{{- end -}}
{{- with $app.layout -}}
{{- if not (has . (list "perKey" "perApp")) -}}
{{- fail (printf "%s.layout must be perKey or perApp (or unset for externalSecrets.layout)" $at) -}}
{{- end -}}
{{- end -}}
{{- $layout := include "ghapp-tokens.layout" (dict "root" $ "app" $app) -}}
{{- if and (eq $layout "perApp") (not $app.remoteKey) (not (contains "{app}" $es.remoteSecretTemplate)) -}}
{{- fail (printf "externalSecrets.remoteSecretTemplate has no {app}, so every App using layout perApp would read the same secret (%s uses it): put {app} in it, e.g. github-apps/{app}, or give %s.remoteKey" $at $at) -}}
{{- end -}}
{{- if and $app.remoteKey (eq $layout "perKey") -}}
{{- fail (printf "%s.remoteKey names one JSON secret for both credentials, which is the perApp layout: set %s.layout: perApp, or use %s.remoteKeys.appId and .privateKey" $at $at $at) -}}
{{- end -}}
{{- if and $app.remoteKeys (eq $layout "perApp") -}}
{{- fail (printf "%s.remoteKeys names one remote secret per credential, which is the perKey layout: set %s.layout: perKey, or use %s.remoteKey" $at $at $at) -}}
{{- end -}}
{{- with $app.remoteKey }}{{ include "ghapp-tokens.check" (dict "root" $ "path" (printf "%s.remoteKey" $at) "value" . "rule" "text") }}{{ end -}}
{{- range $key := list "appId" "privateKey" -}}
{{- with dig "remoteKeys" $key "" $app }}{{ include "ghapp-tokens.check" (dict "root" $ "path" (printf "%s.remoteKeys.%s" $at $key) "value" . "rule" "text") }}{{ end -}}
{{- with dig "properties" $key "" $app }}{{ include "ghapp-tokens.check" (dict "root" $ "path" (printf "%s.properties.%s" $at $key) "value" . "rule" "text") }}{{ end -}}
{{- end -}}
{{- $refs := list -}}
{{- range $key := list "appId" "privateKey" -}}
{{- $refs = append $refs (include "ghapp-tokens.remoteRef" (dict "root" $ "app" $app "key" $key)) -}}
{{- end -}}
{{- if eq (first $refs) (last $refs) -}}
{{- fail (printf "%s: appId and privateKey would be read from the same remote key and property: give them different remoteKeys, or (perApp) different properties" $at) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The provider names of External Secrets' v1 SecretStore (ESO v2.9.0, spec.provider). */}}
{{- define "ghapp-tokens.esoProviders" -}}
akeyless aws azurekv barbican beyondtrust beyondtrustworkloadcredentials bitwardensecretsmanager chef cloudrusm conjur crd delinea doppler dvls fake fortanix gcpsm github gitlab ibm infisical keepersecurity kubernetes nebiusmysterybox ngrok onboardbase onepassword onepasswordSDK openBao oracle ovh passbolt passworddepot previder pulumi scaleway secretserver senhasegura vault volcengine webhook yandexcertificatemanager yandexlockbox
{{- end -}}

{{/* Checks of the secret store the ExternalSecrets read from. */}}
{{- define "ghapp-tokens.validateStore" -}}
{{- $store := .Values.secretStore -}}
{{- if not (has $store.kind (list "SecretStore" "ClusterSecretStore")) -}}
{{- fail "secretStore.kind must be SecretStore (this namespace only) or ClusterSecretStore (shared by namespaces)" -}}
{{- end -}}
{{- if not $store.name -}}
{{- fail "secretStore.name is empty: name the store to create, or the existing store to use with secretStore.create=false" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "secretStore.name" "value" $store.name "rule" "subdomain") -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "secretStore.serviceAccount.name" "value" $store.serviceAccount.name "rule" "subdomain") -}}
{{- range $key, $_ := $store.serviceAccount.annotations -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "secretStore.serviceAccount.annotations (a key)" "value" $key "rule" "labelKey") -}}
{{- end -}}
{{- if $store.create -}}
{{- $provider := include "ghapp-tokens.provider" . | fromYaml -}}
{{- $known := include "ghapp-tokens.esoProviders" . | splitList " " -}}
{{- if gt (len (keys $provider)) 1 -}}
{{- fail (printf "secretStore.provider names %d providers (%s), but a store has exactly one: keep the one your secrets are in" (len (keys $provider)) (keys $provider | sortAlpha | join ", ")) -}}
{{- end -}}
{{- range $name, $block := $provider -}}
{{- if not (has $name $known) -}}
{{- $near := list -}}
{{- range $known }}{{ if or (contains (lower $name) (lower .)) (contains (lower .) (lower $name)) (and (ge (len $name) 2) (hasPrefix (lower (substr 0 2 $name)) (lower .))) }}{{ $near = append $near . }}{{ end }}{{ end -}}
{{- fail (printf "secretStore.provider names a provider External Secrets v1 does not know%s: use one of the keys of SecretStore spec.provider, e.g. aws, vault, gcpsm, azurekv" (ternary (printf " (did you mean %s?)" (join " or " $near)) "" (gt (len $near) 0))) -}}
{{- end -}}
{{- if not (kindIs "map" $block) -}}
{{- fail (printf "secretStore.provider.%s must be a map: the provider's settings, as in External Secrets' SecretStore spec.provider.%s" $name $name) -}}
{{- end -}}
{{- end -}}
{{- with $provider.aws -}}
{{- if not .region -}}
{{- fail (ternary "secretStore.aws.region is empty: set the AWS region of your Secrets Manager, e.g. secretStore.aws.region=eu-west-1" "secretStore.provider.aws.region is missing: External Secrets needs the region of your Secrets Manager or Parameter Store, e.g. region: eu-west-1" (empty $store.provider)) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z]{2}(-[a-z]+)+-[0-9]+$" (toString .region)) -}}
{{- fail (ternary "secretStore.aws.region must be an AWS region such as eu-west-1" "secretStore.provider.aws.region must be an AWS region such as eu-west-1" (empty $store.provider)) -}}
{{- end -}}
{{- if not (has (.service | default "") (list "SecretsManager" "ParameterStore")) -}}
{{- fail "secretStore.provider.aws.service must be SecretsManager or ParameterStore (External Secrets requires it)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $store.conditions (not $store.create) -}}
{{- fail "secretStore.conditions are rendered only into a store the chart creates, but secretStore.create is false: set the conditions on your existing ClusterSecretStore and remove them here" -}}
{{- end -}}
{{- if and $store.conditions (ne $store.kind "ClusterSecretStore") -}}
{{- fail "secretStore.conditions restrict a ClusterSecretStore to namespaces, but secretStore.kind is SecretStore, which only serves its own namespace: remove the conditions or use kind ClusterSecretStore" -}}
{{- end -}}
{{- if not (include "ghapp-tokens.storeAdmits" (dict "root" . "namespace" .Release.Namespace)) -}}
{{- fail (printf "secretStore.conditions do not admit the release namespace %q, so External Secrets would refuse this chart's ExternalSecrets: add it to a condition's namespaces" .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/* Checks of the WorkflowTemplates: names, images, GitHub, the generator and the main container. */}}
{{- define "ghapp-tokens.validateWorkflows" -}}
{{- $wt := .Values.workflowTemplates -}}
{{- if not (has $wt.kind (list "WorkflowTemplate" "ClusterWorkflowTemplate")) -}}
{{- fail "workflowTemplates.kind must be WorkflowTemplate (one namespace) or ClusterWorkflowTemplate (shared by namespaces; see the chart README)" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "workflowTemplates.githubAppToken.name" "value" $wt.githubAppToken.name "rule" "label" "fix" ": callers put it in templateRef.name") -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "workflowTemplates.testGithubApp.name" "value" $wt.testGithubApp.name "rule" "label") -}}
{{- if eq $wt.githubAppToken.name $wt.testGithubApp.name -}}
{{- fail "workflowTemplates.githubAppToken.name and workflowTemplates.testGithubApp.name are the same: give the two templates different names" -}}
{{- end -}}
{{- with $wt.testGithubApp.image }}{{ include "ghapp-tokens.check" (dict "root" $ "path" "workflowTemplates.testGithubApp.image" "value" . "rule" "image") }}{{ end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "image.repository" "value" .Values.image.repository "rule" "repository") -}}
{{- with .Values.image.tag -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "image.tag" "value" . "rule" "tag" "fix" "; leave it empty for the chart's appVersion") -}}
{{- end -}}
{{- if eq (toString .Values.image.tag) "latest" -}}
{{- fail "image.tag is \"latest\": pin a version (leave it empty for the chart's appVersion) so every pod runs the generator this chart was tested with" -}}
{{- end -}}
{{- if and .Values.image.digest (not (regexMatch "^sha256:[a-f0-9]{64}$" (toString .Values.image.digest))) -}}
{{- fail "image.digest must be sha256: and 64 lowercase hex digits, or empty" -}}
{{- end -}}
{{- if not (has .Values.image.pullPolicy (list "Always" "IfNotPresent" "Never")) -}}
{{- fail "image.pullPolicy must be Always, IfNotPresent or Never" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "github.apiUrl" "value" .Values.github.apiUrl "rule" "url" "fix" " (GitHub Enterprise Server: https://HOST/api/v3)") -}}
{{- with .Values.github.caConfigMap -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "github.caConfigMap" "value" . "rule" "subdomain" "fix" ": the name of a ConfigMap in this namespace with the key ca.crt") -}}
{{- end -}}
{{- $gen := .Values.generator -}}
{{- if not (has $gen.logLevel (list "debug" "info" "warn" "error")) -}}
{{- fail "generator.logLevel must be debug, info, warn or error" -}}
{{- end -}}
{{- if not (has (toString $gen.tokenFileMode) (list "0600" "0640" "0400" "0440")) -}}
{{- fail "generator.tokenFileMode is not allowed: use 0600 (same UID) or 0640 (group-readable with workflowTemplates.podSecurityContext.fsGroup), or 0400 / 0440; quote it so YAML keeps the leading 0" -}}
{{- end -}}
{{- if and (has (toString $gen.tokenFileMode) (list "0640" "0440")) (not $wt.podSecurityContext.fsGroup) -}}
{{- fail "generator.tokenFileMode is group-readable but workflowTemplates.podSecurityContext.fsGroup is unset: set fsGroup so the main container shares the token file's group" -}}
{{- end -}}
{{- with $gen.requestTimeout -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" "generator.requestTimeout" "value" . "min" 1 "max" 300 "range" "1s and 5m") -}}
{{- end -}}
{{- with $gen.maxRetryWait -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" "generator.maxRetryWait" "value" . "min" 0 "max" 3600 "range" "0s and 1h") -}}
{{- end -}}
{{- with $wt.githubAppToken.refreshInterval -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" "workflowTemplates.githubAppToken.refreshInterval" "value" . "min" 60 "max" 3300 "range" "1m and 55m" "why" ": an installation token lives one hour") -}}
{{- end -}}
{{- $main := $wt.main -}}
{{- $mainUID := dig "securityContext" "runAsUser" (int (include "ghapp-tokens.generatorUID" .)) $main -}}
{{- if and (ne (int $mainUID) (int (include "ghapp-tokens.generatorUID" .))) (has (toString $gen.tokenFileMode) (list "0600" "0400")) -}}
{{- fail (printf "workflowTemplates.main.securityContext.runAsUser is %d but generator.tokenFileMode lets only the generator's UID 65532 read the token: set generator.tokenFileMode to 0640, with workflowTemplates.podSecurityContext.fsGroup" (int $mainUID)) -}}
{{- end -}}
{{- $reserved := list "github-token" "github-app-key" "github-ca" "tmp" "workspace" -}}
{{- $volumes := list -}}
{{- range $i, $v := $wt.volumes -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" (printf "workflowTemplates.volumes[%d].name" $i) "value" ($v.name | default "") "rule" "label") -}}
{{- if has $v.name $reserved -}}
{{- fail (printf "workflowTemplates.volumes[%d].name is one of the templates' own volumes (%s): choose another name" $i (join ", " $reserved)) -}}
{{- end -}}
{{- $volumes = append $volumes $v.name -}}
{{- end -}}
{{- range $i, $m := $main.volumeMounts -}}
{{- if eq $m.name "github-app-key" -}}
{{- fail (printf "workflowTemplates.main.volumeMounts[%d] mounts github-app-key, the App's private key: the main container never gets the key, only the token in $GITHUB_TOKEN_FILE" $i) -}}
{{- end -}}
{{- if not (has $m.name (concat $volumes (list "tmp" "workspace"))) -}}
{{- fail (printf "workflowTemplates.main.volumeMounts[%d].name is not a volume of workflowTemplates.volumes (nor tmp or workspace): add the volume there" $i) -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" (printf "workflowTemplates.main.volumeMounts[%d].mountPath" $i) "value" ($m.mountPath | default "") "rule" "path") -}}
{{- end -}}
{{- range $i, $e := $main.env -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" (printf "workflowTemplates.main.env[%d].name" $i) "value" ($e.name | default "") "rule" "envName") -}}
{{- if dig "valueFrom" "secretKeyRef" "" $e -}}
{{- if hasPrefix $.Values.externalSecrets.secretPrefix (toString (dig "valueFrom" "secretKeyRef" "name" "" $e)) -}}
{{- fail (printf "workflowTemplates.main.env[%d] reads an app credentials Secret: the main container never gets the App's credentials, only the token" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $ws := $wt.workspace -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "workflowTemplates.workspace.mountPath" "value" $ws.mountPath "rule" "path") -}}
{{- if has $ws.mountPath (list "/" "/tmp" "/var/run/github" "/var/run/github-app" "/etc/ghapp-tokens/ca") -}}
{{- fail "workflowTemplates.workspace.mountPath is a path the templates use for something else: choose e.g. /workspace" -}}
{{- end -}}
{{- if and $ws.volume (gt (len (keys $ws.volume)) 1) -}}
{{- fail "workflowTemplates.workspace.volume must be one volume source, e.g. {ephemeral: {...}} or {persistentVolumeClaim: {claimName: ...}}" -}}
{{- end -}}
{{- if and $ws.volume (hasKey $ws.volume "name") -}}
{{- fail "workflowTemplates.workspace.volume is a volume source without a name (the volume is called workspace): remove name" -}}
{{- end -}}
{{- end -}}

{{/* The opt-in Role (and RoleBinding) that reads the app Secrets by name. */}}
{{- define "ghapp-tokens.secretReaderName" -}}
{{- printf "%ssecrets-reader" .Values.externalSecrets.secretPrefix -}}
{{- end -}}

{{/*
Validation of who gets Kubernetes API credentials: the executor's account is not the pods' own,
and the opt-in Secret reader is bound to an account the user names, never to either of those.
*/}}
{{- define "ghapp-tokens.validateAccounts" -}}
{{- $pods := .Values.serviceAccount.name -}}
{{- $executor := .Values.executor.serviceAccount.name -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "serviceAccount.name" "value" $pods "rule" "label") -}}
{{- if not $executor -}}
{{- fail "executor.serviceAccount.name is empty: Argo needs an executor account when the pods mount no token (automountServiceAccountToken: false); keep the default workflows-executor" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "executor.serviceAccount.name" "value" $executor "rule" "label") -}}
{{- if eq $pods $executor -}}
{{- fail (printf "executor.serviceAccount.name and serviceAccount.name are both %q: the executor needs an account of its own, or the step's containers would run with its token; give it another name" $pods) -}}
{{- end -}}
{{- if and .Values.secretStore.serviceAccount.create (has .Values.secretStore.serviceAccount.name (list $pods $executor)) -}}
{{- fail "secretStore.serviceAccount.name is the workflow pods' or the executor's account: the store's identity (which may read every App's key in the store) needs an account of its own" -}}
{{- end -}}
{{- range $m := list .Values.serviceAccount.annotations .Values.executor.serviceAccount.annotations -}}
{{- range $key, $_ := $m }}{{ include "ghapp-tokens.check" (dict "root" $ "path" "serviceAccount annotations (a key)" "value" $key "rule" "labelKey") }}{{ end -}}
{{- end -}}
{{- with .Values.rbac.secretReader -}}
{{- if .enabled -}}
{{- $name := .serviceAccount.name -}}
{{- if not $name -}}
{{- fail "rbac.secretReader.enabled needs rbac.secretReader.serviceAccount.name: the ServiceAccount of the tool that reads the app Secrets through the API (a pod that mounts them needs no RBAC)" -}}
{{- end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "rbac.secretReader.serviceAccount.name" "value" $name "rule" "subdomain") -}}
{{- with .serviceAccount.namespace }}{{ include "ghapp-tokens.check" (dict "root" $ "path" "rbac.secretReader.serviceAccount.namespace" "value" . "rule" "label") }}{{ end -}}
{{- if and (has $name (list $pods $executor)) (eq (.serviceAccount.namespace | default $.Release.Namespace) $.Release.Namespace) -}}
{{- fail (printf "rbac.secretReader.serviceAccount.name %q is the workflow pods' or the executor's account: binding the Secret reader to it would let every step read every App's key; name the account of the tool that needs the API" $name) -}}
{{- end -}}
{{- if eq (include "ghapp-tokens.secretReaderName" $) $executor -}}
{{- fail "executor.serviceAccount.name equals the Secret reader's Role name (externalSecrets.secretPrefix + secrets-reader): choose another executor name" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Validation of the Flux values (flux.enabled only): which app, which installation, which store.
*/}}
{{- define "ghapp-tokens.validateFlux" -}}
{{- $flux := .Values.flux -}}
{{- $names := list -}}
{{- range .Values.apps }}{{ $names = append $names .name }}{{ end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "flux.namespace" "value" $flux.namespace "rule" "label") -}}
{{- if not $flux.app -}}
{{- fail (printf "flux.app is empty: name the GitHub App Flux authenticates as, one of: %s" (join ", " $names)) -}}
{{- end -}}
{{- if not (has $flux.app $names) -}}
{{- fail (printf "flux.app is not in apps (%s): add it to apps so its credentials are synced, or pick one of those" (join ", " $names)) -}}
{{- end -}}
{{- if not (or $flux.githubApp.enabled $flux.token.enabled) -}}
{{- fail "flux.enabled is true but flux.githubApp.enabled and flux.token.enabled are both false: enable githubApp (GitRepository provider: github, Flux 2.5 or later) or token (basic auth)" -}}
{{- end -}}
{{- if and $flux.appId (not (regexMatch "^([0-9]{1,20}|Iv[0-9A-Za-z.]{1,40})$" (toString $flux.appId))) -}}
{{- fail "flux.appId must be the App's ID (digits, quoted) or its Client ID (Iv...)" -}}
{{- end -}}
{{- if and $flux.installationID (not (regexMatch "^[0-9]{1,20}$" (toString $flux.installationID))) -}}
{{- fail "flux.installationID must be digits, quoted (Helm would print a large unquoted number in e-notation)" -}}
{{- end -}}
{{- if and $flux.installationOwner (not (regexMatch "^[A-Za-z0-9]([-A-Za-z0-9]{0,37}[A-Za-z0-9])?$" (toString $flux.installationOwner))) -}}
{{- fail "flux.installationOwner must be a GitHub organization or user login (letters, digits and '-', at most 39 characters)" -}}
{{- end -}}
{{- with $flux.baseURL }}{{ include "ghapp-tokens.check" (dict "root" $ "path" "flux.baseURL" "value" . "rule" "url") }}{{ end -}}
{{- if and $flux.caCert (not (regexMatch "^\\s*-----BEGIN CERTIFICATE-----[-A-Za-z0-9+/=\\s]*-----END CERTIFICATE-----\\s*$" (toString $flux.caCert))) -}}
{{- fail "flux.caCert must be a PEM bundle of certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) and nothing else" -}}
{{- end -}}
{{- with $flux.secretStore.name }}{{ include "ghapp-tokens.check" (dict "root" $ "path" "flux.secretStore.name" "value" . "rule" "subdomain") }}{{ end -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "flux.githubApp.secretName" "value" $flux.githubApp.secretName "rule" "label") -}}
{{- include "ghapp-tokens.check" (dict "root" $ "path" "flux.token.secretName" "value" $flux.token.secretName "rule" "label") -}}
{{- if and $flux.installationID $flux.installationOwner -}}
{{- fail "flux.installationID and flux.installationOwner are both set: set one (Flux reads exactly one; flux.token needs the ID, which serves flux.githubApp as well)" -}}
{{- end -}}
{{- if and $flux.githubApp.enabled (not (or $flux.installationID $flux.installationOwner)) -}}
{{- fail "flux.githubApp needs the App's installation: set flux.installationOwner (the organization or user login; Flux 2.8 or later) or flux.installationID (any Flux from 2.5; list them with `ghapp-token installations`)" -}}
{{- end -}}
{{- if $flux.token.enabled -}}
{{- if not $flux.installationID -}}
{{- fail "flux.token needs flux.installationID: ESO's GithubAccessToken generator requires installID and cannot look an installation up by owner; list them with `ghapp-token installations`" -}}
{{- end -}}
{{- if not $flux.appId -}}
{{- fail "flux.token needs flux.appId: ESO's GithubAccessToken generator takes the App ID as a literal value (it cannot read appId from the secret store); copy it from the App's settings page" -}}
{{- end -}}
{{- include "ghapp-tokens.checkDuration" (dict "root" $ "path" "flux.token.refreshInterval" "value" $flux.token.refreshInterval "min" 1 "max" 2700 "range" "1s and 45m" "why" ": installation tokens live one hour and each refresh mints a new one, so refresh at most every 45m (30m is the default) to leave a clone or push in flight at least 15 minutes") -}}
{{- range $i, $repo := $flux.token.repositories -}}
{{- if contains "/" (toString $repo) -}}
{{- fail (printf "flux.token.repositories[%d] names an owner, but GitHub's token API takes repository names only: write %q" $i (last (splitList "/" (toString $repo)))) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9._-]{1,100}$" (toString $repo)) -}}
{{- fail (printf "flux.token.repositories[%d] must be a GitHub repository name (letters, digits, '.', '_' and '-', at most 100 characters)" $i) -}}
{{- end -}}
{{- end -}}
{{- range $name, $level := $flux.token.permissions -}}
{{- if not (regexMatch "^[a-z][a-z_]{0,63}$" $name) -}}
{{- fail "flux.token.permissions: a permission name must be lowercase letters and '_', e.g. contents" -}}
{{- end -}}
{{- if not (has $level (list "read" "write" "admin")) -}}
{{- fail (printf "flux.token.permissions.%s must be read, write or admin" $name) -}}
{{- end -}}
{{- end -}}
{{- if and $flux.githubApp.enabled (eq $flux.token.secretName $flux.githubApp.secretName) -}}
{{- fail (printf "flux.token.secretName and flux.githubApp.secretName are both %q: give the two Secrets different names" $flux.token.secretName) -}}
{{- end -}}
{{- end -}}
{{- /* Secrets the chart already writes in the Flux namespace: every app's when it is the release
namespace, else the private key the token generator reads. A Flux Secret must not reuse a name. */ -}}
{{- $taken := list (include "ghapp-tokens.appSecretName" (dict "root" . "app" $flux.app)) -}}
{{- if eq $flux.namespace .Release.Namespace -}}
{{- range .Values.apps }}{{ $taken = append $taken (include "ghapp-tokens.appSecretName" (dict "root" $ "app" .name)) }}{{ end -}}
{{- end -}}
{{- range $key := list "githubApp" "token" -}}
{{- $mode := get $flux $key -}}
{{- if and $mode.enabled (has $mode.secretName $taken) -}}
{{- fail (printf "flux.%s.secretName %q is the name of an app credentials Secret (%s<app>): choose another name" $key $mode.secretName $.Values.externalSecrets.secretPrefix) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.secretStore.kind "SecretStore") (ne $flux.namespace .Release.Namespace) $flux.secretStore.create (not .Values.secretStore.create) -}}
{{- fail (printf "flux.secretStore.create copies the chart's SecretStore into %s, but secretStore.create is false, so there is no provider block to copy: set flux.secretStore.create=false and flux.secretStore.name to a SecretStore that exists in %s, or use a ClusterSecretStore" $flux.namespace $flux.namespace) -}}
{{- end -}}
{{- if not (include "ghapp-tokens.storeAdmits" (dict "root" . "namespace" $flux.namespace)) -}}
{{- fail (printf "secretStore.conditions do not admit flux.namespace %q, so External Secrets would refuse the Flux ExternalSecrets: add %q to a condition's namespaces" $flux.namespace $flux.namespace) -}}
{{- end -}}
{{- end -}}

{{/*
"true" unless the chart's ClusterSecretStore has conditions that list namespaces by name and none of
them is the given one. Conditions with a selector or regexes cannot be judged here and count as
admitting (External Secrets ORs the conditions).
*/}}
{{- define "ghapp-tokens.storeAdmits" -}}
{{- $store := .root.Values.secretStore -}}
{{- $admits := true -}}
{{- if and $store.create (eq $store.kind "ClusterSecretStore") $store.conditions -}}
{{- $admits = false -}}
{{- range $store.conditions -}}
{{- if or .namespaceSelector .namespaceRegexes (has $.namespace (.namespaces | default list)) -}}
{{- $admits = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $admits }}true{{ end -}}
{{- end -}}

{{/*
Flux. What an ExternalSecret in flux.namespace uses: the chart's ClusterSecretStore, the chart's
SecretStore when Flux shares the release namespace, else the store rendered (or named) there.
*/}}
{{- define "ghapp-tokens.flux.storeName" -}}
{{- if or (eq .Values.secretStore.kind "ClusterSecretStore") (eq .Values.flux.namespace .Release.Namespace) -}}
{{- .Values.secretStore.name -}}
{{- else -}}
{{- .Values.flux.secretStore.name | default .Values.secretStore.name -}}
{{- end -}}
{{- end -}}

{{/* "true" when the chart renders a SecretStore (and its ServiceAccount) in flux.namespace. */}}
{{- define "ghapp-tokens.flux.rendersStore" -}}
{{- if and .Values.flux.enabled .Values.flux.secretStore.create (eq .Values.secretStore.kind "SecretStore") (ne .Values.flux.namespace .Release.Namespace) -}}
true
{{- end -}}
{{- end -}}

{{- define "ghapp-tokens.flux.secretStoreRef" -}}
{{- toJson (dict "name" (include "ghapp-tokens.flux.storeName" .) "kind" .Values.secretStore.kind) -}}
{{- end -}}

{{/* The GitHub API URL for GitHub Enterprise (githubAppBaseURL, the generator's url); empty for github.com. */}}
{{- define "ghapp-tokens.flux.baseURL" -}}
{{- if .Values.flux.baseURL -}}
{{- trimSuffix "/" .Values.flux.baseURL -}}
{{- else if include "ghapp-tokens.githubHost" . -}}
{{- trimSuffix "/" .Values.github.apiUrl -}}
{{- end -}}
{{- end -}}

{{/* The app entry (name, remoteKeys, refreshInterval) named by flux.app, as JSON. */}}
{{- define "ghapp-tokens.flux.app" -}}
{{- range .Values.apps -}}
{{- if eq .name $.Values.flux.app }}{{ toJson . }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* An External Secrets template expression, written so Helm leaves it alone: {{ .KEY }}. */}}
{{- define "ghapp-tokens.esoValue" -}}
{{- printf "{{ .%s }}" . -}}
{{- end -}}
