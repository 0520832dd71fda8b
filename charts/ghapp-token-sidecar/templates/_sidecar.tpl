{{/*
ghapp-token-sidecar: include these in your own pod template to get a GitHub App installation
token at /var/run/github/token, minted and kept fresh by ghapp-token running as a native sidecar
(an initContainer with restartPolicy: Always, Kubernetes >= 1.29): it starts before your
containers, its startupProbe holds them back until the first token is on disk, and it keeps
running beside them. Values, under .Values.githubApp:

  enabled                 turn it on (default off)
  secretName              Secret with keys appId and privateKey (e.g. github-app-rex from ghapp-tokens)
  refreshIntervalMinutes  replace the token this often (default: at 80% of its lifetime)
  image.repository/tag    the ghapp-token image (tag defaults to this library's appVersion)
  apiUrl                  GitHub API URL (GitHub Enterprise Server: https://HOST/api/v3)
  installationId, owner, repositories, permissions   select and scope the token
  tokenFileMode           0600 (same UID, default) or 0640 (readers in the pod's fsGroup)
  resources               of the sidecar

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
*/}}

{{- define "ghapp-token-sidecar.values" -}}
{{- $v := .Values.githubApp | default dict -}}
{{- if and $v.enabled (not $v.secretName) -}}
{{- fail "githubApp.secretName is required when githubApp.enabled: name the Secret with keys appId and privateKey (e.g. github-app-rex, synced by the ghapp-tokens chart)" -}}
{{- end -}}
{{- if and $v.enabled $v.refreshIntervalMinutes (or (lt (int $v.refreshIntervalMinutes) 1) (gt (int $v.refreshIntervalMinutes) 55)) -}}
{{- fail (printf "githubApp.refreshIntervalMinutes %v is outside 1..55: installation tokens live 60 minutes and need a margin" $v.refreshIntervalMinutes) -}}
{{- end -}}
{{- toYaml $v -}}
{{- end -}}

{{- define "ghapp-token-sidecar.initContainers" -}}
{{- $v := include "ghapp-token-sidecar.values" . | fromYaml -}}
{{- if $v.enabled }}
{{- $image := $v.image | default dict }}
- name: github-app-token
  image: {{ printf "%s:%s" ($image.repository | default "ghcr.io/ghapp-tokens/ghapp-token") ($image.tag | default "0.1.0") }}
  args: ["refresh"]
  # A native sidecar: started before the app containers, kept running beside them.
  restartPolicy: Always
  env:
    - name: APP_ID
      valueFrom:
        secretKeyRef:
          name: {{ $v.secretName }}
          key: appId
    - name: PRIVATE_KEY_FILE
      value: /var/run/github-app/privateKey
    - name: OUTPUT_PATH
      value: /var/run/github/token
    - name: TOKEN_FILE_MODE
      value: {{ $v.tokenFileMode | default "0600" | quote }}
    - name: GITHUB_API_URL
      value: {{ $v.apiUrl | default "https://api.github.com" | quote }}
    - name: LISTEN_ADDR
      value: "0.0.0.0:8080"
    {{- with $v.refreshIntervalMinutes }}
    - name: REFRESH_INTERVAL
      value: {{ printf "%dm" (int .) | quote }}
    {{- end }}
    {{- range $name, $env := dict "installationId" "INSTALLATION_ID" "owner" "OWNER" "repositories" "REPOSITORIES" "permissions" "PERMISSIONS" }}
    {{- with (get $v $name) }}
    - name: {{ $env }}
      value: {{ . | toString | quote }}
    {{- end }}
    {{- end }}
  ports:
    - name: gh-token-health
      containerPort: 8080
  # The app containers start only once the first token is on disk.
  startupProbe:
    httpGet:
      path: /healthz
      port: gh-token-health
    periodSeconds: 1
    failureThreshold: 120
  livenessProbe:
    httpGet:
      path: /healthz
      port: gh-token-health
    periodSeconds: 30
    failureThreshold: 6
  volumeMounts:
    - name: github-app-key
      mountPath: /var/run/github-app
      readOnly: true
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
- name: github-app-key
  secret:
    secretName: {{ $v.secretName }}
    items:
      - key: privateKey
        path: privateKey
    defaultMode: 0440
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
