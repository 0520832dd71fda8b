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
{{- if and .Values.secretStore.create (not .Values.secretStore.provider) -}}
{{- fail "secretStore.provider is empty: give an External Secrets provider block (e.g. aws, vault, gcpsm, azurekv), or set secretStore.create=false to use an existing store" -}}
{{- end -}}
{{- if and .Values.secretStore.create (gt (len (keys .Values.secretStore.provider)) 1) -}}
{{- fail (printf "secretStore.provider names %d providers (%s), but a store has exactly one: Helm merges your provider with the default aws block, so set provider.aws: null when you use another provider" (len (keys .Values.secretStore.provider)) (keys .Values.secretStore.provider | sortAlpha | join ", ")) -}}
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
{{- if and .Values.secretStore.conditions (ne .Values.secretStore.kind "ClusterSecretStore") -}}
{{- fail "secretStore.conditions restrict a ClusterSecretStore to namespaces, but secretStore.kind is SecretStore, which only serves its own namespace: remove the conditions or use kind ClusterSecretStore" -}}
{{- end -}}
{{- if not (include "ghapp-tokens.storeAdmits" (dict "root" . "namespace" .Release.Namespace)) -}}
{{- fail (printf "secretStore.conditions do not admit the release namespace %q, so External Secrets would refuse this chart's ExternalSecrets: add it to a condition's namespaces" .Release.Namespace) -}}
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
