{{- /*
nervosum's chart keeps to a small subset of Helm's template language: `if` / `end`,
`range`, `define` / `include`, comments, text output of a value, and the functions
toJson, fromYaml, sha256sum, trunc, quote, int, eq, ne, gt, and, or, not and
nindent. Values are written with
toJson (JSON is valid YAML, so any text stays one scalar). The tests render these
templates with a renderer of exactly that subset, and with `helm template` where helm
is installed, and require the objects `nervosum deploy --target kubernetes` prints.
*/ -}}

{{- define "nervosum.labels" -}}
app: {{ toJson .Values.label }}
app.kubernetes.io/name: {{ toJson .Values.name }}
app.kubernetes.io/managed-by: "nervosum"
{{- end }}

{{- define "nervosum.metadata" -}}
name: {{ toJson .Values.name }}
{{- if .Values.namespace }}
namespace: {{ toJson .Values.namespace }}
{{- end }}
labels:
  {{- include "nervosum.labels" . | nindent 2 }}
{{- end }}

{{- define "nervosum.pod" -}}
metadata:
  labels:
    {{- include "nervosum.labels" . | nindent 4 }}
  annotations:
    {{- if .Values.port }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ quote .Values.port }}
    prometheus.io/path: "/metrics"
    {{- end }}
    {{- if .Values.workload.bundle }}
    nervosum/bundle: {{ toJson .Values.workload.bundle }}
    {{- end }}
spec:
  {{- if eq .Values.workload.mode "batch" }}
  restartPolicy: "Never"
  {{- end }}
  automountServiceAccountToken: false
  {{- if .Values.workload.grace_period }}
  terminationGracePeriodSeconds: {{ toJson .Values.workload.grace_period }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: "RuntimeDefault"
  {{- if .Values.image.pull_secret }}
  imagePullSecrets:
    - name: {{ toJson .Values.image.pull_secret }}
  {{- end }}
  containers:
    - name: {{ toJson .Values.container }}
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
      imagePullPolicy: {{ toJson .Values.image.pull_policy }}
      {{- if eq .Values.workload.mode "repo" }}
      command:
        - "nervosum"
        - "serve-repo"
      {{- end }}
      {{- if or (eq .Values.workload.mode "stream") .Values.args }}
      args:
        {{- if eq .Values.workload.mode "stream" }}
        - "--host"
        - "0.0.0.0"
        - "--port"
        - {{ quote .Values.port }}
        {{- end }}
        {{- range .Values.args }}
        - {{ toJson . }}
        {{- end }}
      {{- end }}
      {{- if .Values.port }}
      ports:
        - name: "http"
          containerPort: {{ toJson .Values.port }}
          protocol: "TCP"
        {{- if .Values.grpc_port }}
        - name: "grpc"
          containerPort: {{ toJson .Values.grpc_port }}
          protocol: "TCP"
        {{- end }}
      {{- end }}
      {{- if or (eq .Values.workload.mode "http") (eq .Values.workload.mode "repo") .Values.env .Values.secret_env }}
      env:
        {{- if or (eq .Values.workload.mode "http") (eq .Values.workload.mode "repo") }}
        - name: "NERVOSUM_HOST"
          value: "0.0.0.0"
        - name: "NERVOSUM_PORT"
          value: {{ quote .Values.port }}
        {{- if .Values.grpc_port }}
        - name: "NERVOSUM_GRPC_PORT"
          value: {{ quote .Values.grpc_port }}
        {{- end }}
        {{- end }}
        {{- if eq .Values.workload.mode "repo" }}
        - name: "gitPath"
          value: {{ toJson .Values.workload.repo.source }}
        {{- if .Values.workload.repo.secret }}
        - name: "usergit"
          valueFrom:
            secretKeyRef:
              name: {{ toJson .Values.workload.repo.secret }}
              key: "username"
        - name: "gitpassword"
          valueFrom:
            secretKeyRef:
              name: {{ toJson .Values.workload.repo.secret }}
              key: "password"
        {{- end }}
        {{- end }}
        {{- range $name, $value := .Values.env }}
        - name: {{ toJson $name }}
          value: {{ toJson $value }}
        {{- end }}
        {{- range $name, $ref := .Values.secret_env }}
        - name: {{ toJson $name }}
          valueFrom:
            secretKeyRef:
              name: {{ toJson $ref.secret }}
              key: {{ toJson $ref.key }}
        {{- end }}
      {{- end }}
      resources: {{ toJson .Values.resources }}
      {{- if .Values.port }}
      livenessProbe:
        httpGet:
          path: "/health/live"
          port: "http"
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        {{- if .Values.grpc_port }}
        grpc:
          port: {{ toJson .Values.grpc_port }}
        {{- end }}
        {{- if not .Values.grpc_port }}
        httpGet:
          path: "/health/ready"
          port: "http"
        {{- end }}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 3
      {{- end }}
      {{- if or (eq .Values.workload.mode "http") (eq .Values.workload.mode "repo") }}
      lifecycle:
        preStop:
          sleep:
            seconds: 5
      {{- end }}
      {{- if .Values.claim }}
      volumeMounts:
        - name: "data"
          mountPath: {{ toJson .Values.mount_path }}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop:
            - "ALL"
  {{- if .Values.claim }}
  volumes:
    - name: "data"
      persistentVolumeClaim:
        claimName: {{ toJson .Values.claim }}
  {{- end }}
{{- end }}
