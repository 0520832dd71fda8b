{{/*
Pieces shared by the WorkflowTemplates: the inputs every token-minting template takes, the
generator initContainer, the main container and the volumes. Templates used through templateRef
carry their own volumes, because spec-level volumes do not travel with templateRef.
*/}}

{{/*
No Kubernetes API credentials in a step's containers: the pod mounts no ServiceAccount token, and
Argo's executor (its own init and wait containers) uses the executor account's token instead.
Set on each template, because spec-level fields do not travel with templateRef.
*/}}
{{- define "ghapp-tokens.noApiCredentials" -}}
automountServiceAccountToken: false
executor:
  serviceAccountName: {{ .Values.executor.serviceAccount.name | quote }}
{{- end -}}

{{/*
Input parameters that choose the app and scope the token. A ClusterWorkflowTemplate serves
namespaces with different apps, so there the app is not limited to this release's list: a step
naming an app its namespace does not sync fails when the kubelet finds no Secret.
*/}}
{{- define "ghapp-tokens.tokenInputs" -}}
{{- /* brokered: the broker holds the App and chooses the installation from owner (_brokered.tpl) */ -}}
{{- if not (include "ghapp-tokens.brokered" .) -}}
- name: github-app
  description: The GitHub App whose token the step gets; one of the apps this chart syncs.
  value: {{ (first .Values.apps).name | quote }}
  {{- if eq .Values.workflowTemplates.kind "WorkflowTemplate" }}
  enum:
    {{- range .Values.apps }}
    - {{ .name | quote }}
    {{- end }}
  {{- end }}
- name: installation-id
  description: Installation ID; empty to discover it from owner, repositories or the app's only installation.
  value: ""
{{ end -}}
- name: owner
  description: Account login (org or user) whose installation to use; empty when not needed.
  value: ""
- name: repositories
  description: Comma list of repo or owner/repo to scope the token to; empty for all the installation's repositories.
  value: ""
- name: permissions
  description: Comma list of name=level (read, write, admin) to narrow the token's permissions, e.g. contents=read,pull_requests=write.
  value: ""
{{- end -}}

{{/* Inputs of the caller's step: its image and script, and a per-step pod patch. */}}
{{- define "ghapp-tokens.stepInputs" -}}
- name: image
  description: Image of the step; it needs sh.
- name: script
  description: {{ .script | quote }}
- name: pod-spec-patch
  description: >-
    Per-step changes to the pod, as Argo's podSpecPatch (a strategic merge patch of the pod spec,
    JSON or YAML), e.g. {"containers":[{"name":"main","resources":{"limits":{"memory":"4Gi"}}}],
    "volumes":[{"name":"workspace","emptyDir":{"sizeLimit":"20Gi"}}]}. Default: no change.
  value: "{}"
{{- end -}}

{{/* Environment of the generator, shared by the initContainer and the refresh sidecar. */}}
{{- define "ghapp-tokens.generatorEnv" -}}
{{- if include "ghapp-tokens.brokered" . -}}
{{- include "ghapp-tokens.brokerEnv" . }}
{{- else -}}
- name: APP_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "ghapp-tokens.argoAppSecretName" . | quote }}
      key: appId
# The key is read from the secret volume, never from the environment (which `kubectl
# describe` and crash dumps show).
- name: PRIVATE_KEY_FILE
  value: /var/run/github-app/privateKey
- name: INSTALLATION_ID
  value: {{ include "ghapp-tokens.argoParam" "installation-id" | quote }}
{{- end }}
- name: OWNER
  value: {{ include "ghapp-tokens.argoParam" "owner" | quote }}
- name: REPOSITORIES
  value: {{ include "ghapp-tokens.argoParam" "repositories" | quote }}
- name: PERMISSIONS
  value: {{ include "ghapp-tokens.argoParam" "permissions" | quote }}
- name: OUTPUT_PATH
  value: /var/run/github/token
- name: TOKEN_FILE_MODE
  value: {{ .Values.generator.tokenFileMode | toString | quote }}
- name: GITHUB_API_URL
  value: {{ .Values.github.apiUrl | quote }}
- name: LOG_LEVEL
  value: {{ .Values.generator.logLevel | quote }}
{{- with .Values.generator.requestTimeout }}
- name: REQUEST_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.generator.maxRetryWait }}
- name: MAX_RETRY_WAIT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.github.caConfigMap }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/ghapp-tokens/ca/ca.crt
{{- end }}
{{- end -}}

{{/* The generator as an initContainer: mints the token into the in-memory volume. */}}
{{- define "ghapp-tokens.generatorInitContainer" -}}
- name: github-app-token
  image: {{ include "ghapp-tokens.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy | quote }}
  args: ["mint"]
  env:
    {{- include "ghapp-tokens.generatorEnv" . | nindent 4 }}
  volumeMounts:
    {{- if include "ghapp-tokens.brokered" . }}
    {{- include "ghapp-tokens.brokerMounts" . | nindent 4 }}
    {{- else }}
    - name: github-app-key
      mountPath: /var/run/github-app
      readOnly: true
    {{- end }}
    - name: github-token
      mountPath: /var/run/github
    {{- with include "ghapp-tokens.caMount" . }}{{ . | nindent 4 }}{{ end }}
  securityContext:
    {{- include "ghapp-tokens.containerSecurityContext" . | nindent 4 }}
  resources:
    {{- toYaml .Values.generator.resources | nindent 4 }}
{{- end -}}

{{/* Volumes of a token-minting template. */}}
{{- define "ghapp-tokens.tokenVolumes" -}}
{{- $ws := .Values.workflowTemplates.workspace -}}
# The token lives in memory only and disappears with the pod.
- name: github-token
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- if include "ghapp-tokens.brokered" . }}
{{ include "ghapp-tokens.brokerVolumes" . }}
{{- else }}
- name: github-app-key
  secret:
    secretName: {{ include "ghapp-tokens.argoAppSecretName" . | quote }}
    items:
      - key: privateKey
        path: privateKey
    # Owner root, group fsGroup: readable by the generator through the pod's fsGroup only.
    defaultMode: 0440
{{- end }}
# Scratch space for HOME and tools' temporary files, whose root filesystem is read-only.
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
# The main container's working directory (workflowTemplates.workspace).
{{- if $ws.volume }}
- {{ merge (dict "name" "workspace") $ws.volume | toYaml | nindent 2 | trim }}
{{- else }}
- name: workspace
  emptyDir:
    {{- toYaml ($ws.emptyDir | default dict) | nindent 4 }}
{{- end }}
{{- if .Values.github.caConfigMap }}
- name: github-ca
  configMap:
    name: {{ .Values.github.caConfigMap | quote }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- with .Values.workflowTemplates.volumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The private CA bundle of GitHub Enterprise Server, when configured. */}}
{{- define "ghapp-tokens.caMount" -}}
{{- if .Values.github.caConfigMap -}}
- name: github-ca
  mountPath: /etc/ghapp-tokens/ca
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The caller's main container: its own image and script, with the token file and a workspace. It
never mounts the key volume nor reads the app's Secret (validateWorkflows refuses values that would).
*/}}
{{- define "ghapp-tokens.mainContainer" -}}
{{- $main := .Values.workflowTemplates.main -}}
image: {{ include "ghapp-tokens.argoParam" "image" | quote }}
command: ["sh", "-c"]
args:
  - {{ include "ghapp-tokens.argoParam" "script" | quote }}
workingDir: {{ .Values.workflowTemplates.workspace.mountPath | quote }}
env:
  - name: GITHUB_TOKEN_FILE
    value: /var/run/github/token
  - name: GITHUB_API_URL
    value: {{ .Values.github.apiUrl | quote }}
  {{- with include "ghapp-tokens.githubHost" . }}
  - name: GH_HOST
    value: {{ . | quote }}
  {{- end }}
  - name: HOME
    value: /tmp
  {{- if .Values.github.caConfigMap }}
  - name: NODE_EXTRA_CA_CERTS
    value: /etc/ghapp-tokens/ca/ca.crt
  - name: SSL_CERT_DIR
    value: /etc/ssl/certs:/etc/ghapp-tokens/ca
  {{- end }}
  {{- with $main.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
volumeMounts:
  - name: github-token
    mountPath: /var/run/github
    readOnly: true
  - name: tmp
    mountPath: /tmp
  - name: workspace
    mountPath: {{ .Values.workflowTemplates.workspace.mountPath | quote }}
  {{- with include "ghapp-tokens.caMount" . }}{{ . | nindent 2 }}{{ end }}
  {{- with $main.volumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  {{- include "ghapp-tokens.mainSecurityContext" . | nindent 2 }}
resources:
  {{- toYaml $main.resources | nindent 2 }}
{{- end -}}

{{/*
The refresh sidecar: the generator in `refresh` mode on the same volumes. Readiness is /readyz (a
valid token is on disk); liveness is /livez (the process and its refresh loop work), never the
token's validity: Argo pods do not restart containers, so a liveness kill during a GitHub outage
would end refreshing for good (CONTRACTS.md, "Sidecar health endpoints"). With revokeOnExit it
revokes its last token when Argo stops it at the end of the step.
*/}}
{{- define "ghapp-tokens.refreshSidecar" -}}
{{- $init := include "ghapp-tokens.generatorInitContainer" . | fromYamlArray | first -}}
{{- $env := $init.env -}}
{{- $env = append $env (dict "name" "LISTEN_ADDR" "value" "0.0.0.0:8080") -}}
{{- with .Values.workflowTemplates.githubAppToken.refreshInterval }}
{{- $env = append $env (dict "name" "REFRESH_INTERVAL" "value" .) -}}
{{- end }}
{{- /* brokered: the broker hands one cached token to every pod of a scope, so revoking it would cut off the others (docs/keyless.md) */ -}}
{{- $revoke := and .Values.workflowTemplates.githubAppToken.revokeOnExit (not (include "ghapp-tokens.brokered" .)) -}}
{{- $env = append $env (dict "name" "REVOKE_ON_EXIT" "value" (toString $revoke)) -}}
{{- $sidecar := merge (dict "name" "github-app-token-refresh" "args" (list "refresh") "env" $env) (omit $init "name" "args" "env") -}}
{{- $_ := set $sidecar "ports" (list (dict "name" "health" "containerPort" 8080)) -}}
{{- $_ := set $sidecar "readinessProbe" (dict "httpGet" (dict "path" "/readyz" "port" "health") "periodSeconds" 10) -}}
{{- $_ := set $sidecar "livenessProbe" (dict "httpGet" (dict "path" "/livez" "port" "health") "periodSeconds" 30 "failureThreshold" 6) -}}
{{- list $sidecar | toYaml -}}
{{- end -}}

{{/* A template that runs the caller's step with a token: run, or run-with-refresh with the sidecar. */}}
{{- define "ghapp-tokens.runTemplate" -}}
{{- $root := .root -}}
- name: {{ .name }}
  inputs:
    parameters:
      {{- include "ghapp-tokens.tokenInputs" $root | nindent 6 }}
      {{- include "ghapp-tokens.stepInputs" (dict "script" .script) | nindent 6 }}
  {{- include "ghapp-tokens.noApiCredentials" $root | nindent 2 }}
  podSpecPatch: {{ include "ghapp-tokens.argoParam" "pod-spec-patch" | quote }}
  securityContext:
    {{- toYaml $root.Values.workflowTemplates.podSecurityContext | nindent 4 }}
  volumes:
    {{- include "ghapp-tokens.tokenVolumes" $root | nindent 4 }}
  initContainers:
    {{- include "ghapp-tokens.generatorInitContainer" $root | nindent 4 }}
  {{- if .refresh }}
  sidecars:
    {{- include "ghapp-tokens.refreshSidecar" $root | nindent 4 }}
  {{- end }}
  container:
    {{- include "ghapp-tokens.mainContainer" $root | nindent 4 }}
{{- end -}}
