{{/*
Names, labels, the image reference, Argo expression escaping and value validation.
Every object name goes through "ghapp-tokens.name63" so nothing exceeds Kubernetes' 63 characters.
*/}}

{{- define "ghapp-tokens.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A name cut to 63 characters without a trailing dash. */}}
{{- define "ghapp-tokens.name63" -}}
{{- . | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ghapp-tokens.labels" -}}
app.kubernetes.io/name: {{ include "ghapp-tokens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Secret an app's credentials are synced into: github-app-<app>. */}}
{{- define "ghapp-tokens.appSecretName" -}}
{{- include "ghapp-tokens.name63" (printf "%s%s" .root.Values.externalSecrets.secretPrefix .app) -}}
{{- end -}}

{{/* Remote key of an app's appId or privateKey: per-app override, else the template. */}}
{{- define "ghapp-tokens.remoteKey" -}}
{{- $override := dig "remoteKeys" .key "" .app -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- .root.Values.externalSecrets.remoteKeyTemplate | replace "{app}" .app.name | replace "{key}" .key -}}
{{- end -}}
{{- end -}}

{{/*
The ExternalSecret that syncs an app's appId and privateKey into its Secret github-app-<app>: in
the release namespace for every app, and again in flux.namespace for the app Flux's token generator
reads. Takes (dict "root" $ "app" <apps entry> "namespace" <ns> "storeRef" <secretStoreRef YAML>).
*/}}
{{- define "ghapp-tokens.appExternalSecret" -}}
{{- $root := .root -}}
{{- $name := include "ghapp-tokens.appSecretName" (dict "root" $root "app" .app.name) -}}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "ghapp-tokens.labels" $root | nindent 4 }}
    ghapp-tokens.io/app: {{ .app.name }}
spec:
  refreshInterval: {{ .app.refreshInterval | default $root.Values.externalSecrets.refreshInterval }}
  secretStoreRef:
    {{- .storeRef | nindent 4 }}
  target:
    name: {{ $name }}
    creationPolicy: {{ $root.Values.externalSecrets.creationPolicy }}
    deletionPolicy: {{ $root.Values.externalSecrets.deletionPolicy }}
  data:
    {{- include "ghapp-tokens.appCredentialsData" (dict "root" $root "app" .app) | nindent 4 }}
{{- end -}}

{{/* The ExternalSecret data entries appId and privateKey of an app, from their remote keys. */}}
{{- define "ghapp-tokens.appCredentialsData" -}}
- secretKey: appId
  remoteRef:
    key: {{ include "ghapp-tokens.remoteKey" (dict "root" .root "app" .app "key" "appId") | quote }}
- secretKey: privateKey
  remoteRef:
    key: {{ include "ghapp-tokens.remoteKey" (dict "root" .root "app" .app "key" "privateKey") | quote }}
{{- end -}}

{{/* The ServiceAccount the store authenticates as (IRSA, workload identity), in a namespace. */}}
{{- define "ghapp-tokens.storeServiceAccount" -}}
{{- $sa := .root.Values.secretStore.serviceAccount -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ghapp-tokens.name63" $sa.name }}
  namespace: {{ .namespace }}
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

{{/* Container security context shared by every container the templates run. */}}
{{- define "ghapp-tokens.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.workflowTemplates.runAsUser }}
runAsGroup: {{ .Values.workflowTemplates.runAsUser }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
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

{{/*
Validation: each `fail` names the value, what is wrong and how to fix it.
Called once from every template so `helm template` fails before rendering anything partial.
*/}}
{{- define "ghapp-tokens.validate" -}}
{{- $names := list -}}
{{- if not .Values.apps -}}
{{- fail "apps is empty: list at least one GitHub App, e.g. apps: [{name: rex}]" -}}
{{- end -}}
{{- range .Values.apps -}}
{{- if not .name -}}
{{- fail "apps: every entry needs a name, e.g. {name: rex}" -}}
{{- end -}}
{{- if has .name $names -}}
{{- fail (printf "apps: %q is listed twice; each GitHub App must appear once" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- if not (has .Values.secretStore.kind (list "SecretStore" "ClusterSecretStore")) -}}
{{- fail (printf "secretStore.kind %q is not supported: use SecretStore or ClusterSecretStore" .Values.secretStore.kind) -}}
{{- end -}}
{{- if not .Values.secretStore.name -}}
{{- fail "secretStore.name is empty: name the store to create, or the existing store to use with secretStore.create=false" -}}
{{- end -}}
{{- $provider := include "ghapp-tokens.provider" . | fromYaml -}}
{{- if and .Values.secretStore.create (gt (len (keys $provider)) 1) -}}
{{- fail (printf "secretStore.provider names %d providers (%s), but a store has exactly one: keep the one your secrets are in" (len (keys $provider)) (keys $provider | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if eq (toString .Values.image.tag) "latest" -}}
{{- fail "image.tag is \"latest\": pin a version (leave it empty for the chart's appVersion) so every pod runs the generator this chart was tested with" -}}
{{- end -}}
{{- if not (has (toString .Values.generator.tokenFileMode) (list "0600" "0640" "0400" "0440")) -}}
{{- fail (printf "generator.tokenFileMode %q is not allowed: use 0600 (same UID) or 0640 (group-readable with podSecurityContext.fsGroup)" (toString .Values.generator.tokenFileMode)) -}}
{{- end -}}
{{- if and (has (toString .Values.generator.tokenFileMode) (list "0640" "0440")) (not .Values.workflowTemplates.podSecurityContext.fsGroup) -}}
{{- fail "generator.tokenFileMode is group-readable but workflowTemplates.podSecurityContext.fsGroup is unset: set fsGroup so the main container shares the token file's group" -}}
{{- end -}}
{{- if and .Values.secretStore.conditions (not .Values.secretStore.create) -}}
{{- fail "secretStore.conditions are rendered only into a store the chart creates, but secretStore.create is false: set the conditions on your existing ClusterSecretStore and remove them here" -}}
{{- end -}}
{{- if and .Values.secretStore.conditions (ne .Values.secretStore.kind "ClusterSecretStore") -}}
{{- fail "secretStore.conditions restrict a ClusterSecretStore to namespaces, but secretStore.kind is SecretStore, which only serves its own namespace: remove the conditions or use kind ClusterSecretStore" -}}
{{- end -}}
{{- if not (include "ghapp-tokens.storeAdmits" (dict "root" . "namespace" .Release.Namespace)) -}}
{{- fail (printf "secretStore.conditions do not admit the release namespace %q, so External Secrets would refuse this chart's ExternalSecrets: add it to a condition's namespaces" .Release.Namespace) -}}
{{- end -}}
{{- include "ghapp-tokens.validateAccounts" . -}}
{{- if .Values.flux.enabled -}}
{{- include "ghapp-tokens.validateFlux" . -}}
{{- end -}}
{{- end -}}

{{/*
Validation of the Flux values (flux.enabled only): which app, which installation, which store.
*/}}
{{- define "ghapp-tokens.validateFlux" -}}
{{- $flux := .Values.flux -}}
{{- $names := list -}}
{{- range .Values.apps }}{{ $names = append $names .name }}{{ end -}}
{{- if not $flux.app -}}
{{- fail (printf "flux.app is empty: name the GitHub App Flux authenticates as, one of: %s" (join ", " $names)) -}}
{{- end -}}
{{- if not (has $flux.app $names) -}}
{{- fail (printf "flux.app %q is not in apps (%s): add it to apps so its credentials are synced, or pick one of those" $flux.app (join ", " $names)) -}}
{{- end -}}
{{- if not (or $flux.githubApp.enabled $flux.token.enabled) -}}
{{- fail "flux.enabled is true but flux.githubApp.enabled and flux.token.enabled are both false: enable githubApp (GitRepository provider: github, Flux 2.5 or later) or token (basic auth)" -}}
{{- end -}}
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
{{- $seconds := include "ghapp-tokens.durationSeconds" $flux.token.refreshInterval | float64 -}}
{{- if or (le $seconds 0.0) (gt $seconds 2700.0) -}}
{{- fail (printf "flux.token.refreshInterval %q is not between 1s and 45m: installation tokens live one hour and each refresh mints a new one, so refresh at most every 45m (30m is the default) to leave a clone or push in flight at least 15 minutes" (toString $flux.token.refreshInterval)) -}}
{{- end -}}
{{- range $flux.token.repositories -}}
{{- if contains "/" . -}}
{{- fail (printf "flux.token.repositories: %q names an owner, but GitHub's token API takes repository names only: write %q" . (last (splitList "/" .))) -}}
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

{{/* Seconds in a Go duration such as 30m, 1h, 1h30m or 90s (sub-second units count as 0). */}}
{{- define "ghapp-tokens.durationSeconds" -}}
{{- $unit := dict "h" 3600.0 "m" 60.0 "s" 1.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" (toString .) -1 -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $total = addf $total (mulf (float64 $number) (get $unit (trimPrefix $number .) | default 0.0)) -}}
{{- end -}}
{{- $total -}}
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
name: {{ include "ghapp-tokens.flux.storeName" . }}
kind: {{ .Values.secretStore.kind }}
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
{{- if not $executor -}}
{{- fail "executor.serviceAccount.name is empty: Argo needs an executor account when the pods mount no token (automountServiceAccountToken: false); keep the default workflows-executor" -}}
{{- end -}}
{{- if eq $pods $executor -}}
{{- fail (printf "executor.serviceAccount.name and serviceAccount.name are both %q: the executor needs an account of its own, or the step's containers would run with its token; give it another name" $pods) -}}
{{- end -}}
{{- with .Values.rbac.secretReader -}}
{{- if .enabled -}}
{{- $name := .serviceAccount.name -}}
{{- if not $name -}}
{{- fail "rbac.secretReader.enabled needs rbac.secretReader.serviceAccount.name: the ServiceAccount of the tool that reads the app Secrets through the API (a pod that mounts them needs no RBAC)" -}}
{{- end -}}
{{- if and (has $name (list $pods $executor)) (eq (.serviceAccount.namespace | default $.Release.Namespace) $.Release.Namespace) -}}
{{- fail (printf "rbac.secretReader.serviceAccount.name %q is the workflow pods' or the executor's account: binding the Secret reader to it would let every step read every App's key; name the account of the tool that needs the API" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
