{{/* Names, labels and the per-service values every template shares. */}}

{{- define "meridian.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one service's objects: <fullname>-<service>. Args: (list $ "records") */}}
{{- define "meridian.name" -}}
{{- printf "%s-%s" (include "meridian.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "meridian.selectorLabels" -}}
app.kubernetes.io/name: meridian
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "meridian.labels" -}}
{{ include "meridian.selectorLabels" . }}
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/part-of: meridian
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{- define "meridian.image" -}}
{{- $root := index . 0 -}}
{{- $service := index . 1 -}}
{{- $repo := printf "%s/%s/%s" $root.Values.image.registry $root.Values.image.repository $service | trimPrefix "/" -}}
{{- $digest := get $root.Values.image.digests $service -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "meridian.tlsSecret" -}}
{{- $root := index . 0 -}}
{{- get $root.Values.tls.secretNames (index . 1) | default (printf "%s-tls" (include "meridian.name" .)) -}}
{{- end -}}

{{- define "meridian.kafkaUser" -}}
{{- include "meridian.name" . -}}
{{- end -}}

{{- define "meridian.kafkaUserSecret" -}}
{{- $root := index . 0 -}}
{{- get $root.Values.kafka.userSecrets (index . 1) | default (include "meridian.kafkaUser" .) -}}
{{- end -}}

{{- define "meridian.organisationsConfigMap" -}}
{{- if .Values.organisations.directory -}}
{{- printf "%s-organisations" (include "meridian.fullname" .) -}}
{{- else -}}
{{- required "organisations.existingConfigMap or organisations.directory must be set" .Values.organisations.existingConfigMap -}}
{{- end -}}
{{- end -}}

{{/* PostgreSQL: the chart's CloudNativePG cluster or the external one. */}}
{{- define "meridian.pgCluster" -}}
{{- printf "%s-pg" (include "meridian.fullname" .) -}}
{{- end -}}
{{- define "meridian.pgHost" -}}
{{- if .Values.postgresql.cloudnativepg.enabled -}}
{{- printf "%s-rw" (include "meridian.pgCluster" .) -}}
{{- else -}}
{{- .Values.postgresql.host -}}
{{- end -}}
{{- end -}}
{{- define "meridian.pgSecret" -}}
{{- if .Values.postgresql.cloudnativepg.enabled -}}
{{- printf "%s-app" (include "meridian.pgCluster" .) -}}
{{- else -}}
{{- .Values.postgresql.credentialsSecret -}}
{{- end -}}
{{- end -}}
{{- define "meridian.pgCaSecret" -}}
{{- if .Values.postgresql.cloudnativepg.enabled -}}
{{- printf "%s-ca" (include "meridian.pgCluster" .) -}}
{{- else -}}
{{- .Values.postgresql.caSecret -}}
{{- end -}}
{{- end -}}
{{- define "meridian.pgDatabase" -}}
{{- if .Values.postgresql.cloudnativepg.enabled -}}app{{- else -}}{{ .Values.postgresql.database }}{{- end -}}
{{- end -}}

{{/* Kafka: the chart's Strimzi cluster or the external one. */}}
{{- define "meridian.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9093" .Values.kafka.strimzi.clusterName -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}
{{- define "meridian.kafkaCaSecret" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-cluster-ca-cert" .Values.kafka.strimzi.clusterName -}}
{{- else -}}
{{- .Values.kafka.caSecret -}}
{{- end -}}
{{- end -}}

{{/*
What each service talks to, the design's flows (DESIGN.md): whether
institutions call it, whether it calls consent, and its Kafka topics.
*/}}
{{- define "meridian.flows" -}}
patient-index:
  institutions: true
  callsConsent: false
  writes: [meridian.patient.v1]
  reads: []
  groups: []
records:
  institutions: true
  callsConsent: true
  writes: [meridian.records.v1, meridian.audit.v1, meridian.patient.v1.dlt]
  reads: [meridian.patient.v1]
  groups: [records-xref]
consent:
  institutions: true
  callsConsent: false
  writes: [meridian.consent.v1, meridian.audit.v1, meridian.patient.v1.dlt, meridian.audit.v1.dlt]
  reads: [meridian.patient.v1, meridian.audit.v1]
  groups: [consent-xref, consent-audit]
prescriptions:
  institutions: true
  callsConsent: true
  writes: [meridian.prescriptions.v1, meridian.audit.v1, meridian.patient.v1.dlt]
  reads: [meridian.patient.v1]
  groups: [prescriptions-xref]
lab-results:
  institutions: true
  callsConsent: true
  writes: [meridian.labs.v1, meridian.audit.v1, meridian.patient.v1.dlt]
  reads: [meridian.patient.v1]
  groups: [lab-results-xref]
deid-stream:
  institutions: false
  callsConsent: true
  writes: [meridian.deid.v1, meridian.patient.v1.dlt, meridian.records.v1.dlt, meridian.prescriptions.v1.dlt, meridian.labs.v1.dlt, meridian.audit.v1.dlt]
  reads: [meridian.patient.v1, meridian.records.v1, meridian.prescriptions.v1, meridian.labs.v1, meridian.audit.v1]
  groups: [deid-stream, deid-stream-xref]
analytics:
  institutions: false
  authority: true
  callsConsent: false
  writes: [meridian.deid.v1.dlt]
  reads: [meridian.deid.v1]
  groups: [analytics]
{{- end -}}

{{- define "meridian.topics" -}}
- meridian.patient.v1
- meridian.records.v1
- meridian.consent.v1
- meridian.prescriptions.v1
- meridian.labs.v1
- meridian.audit.v1
- meridian.deid.v1
{{- end -}}

{{/* The container ports, the same in every pod. */}}
{{- define "meridian.ports" -}}
grpc: 50051
health: 8081
metrics: 9090
https: 8443
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod of the chart. */}}
{{- define "meridian.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "meridian.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* libpq reads the user and password from PGUSER / PGPASSWORD. */}}
{{- define "meridian.pgCredentials" -}}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ include "meridian.pgSecret" . }}
      key: username
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "meridian.pgSecret" . }}
      key: password
{{- end -}}

{{/* NetworkPolicy egress rules to PostgreSQL and to Kafka. */}}
{{- define "meridian.egressPostgres" -}}
- to:
    {{- if .Values.postgresql.cloudnativepg.enabled }}
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "meridian.pgCluster" . }}
    {{- else }}
    {{- toYaml .Values.postgresql.networkPeers | nindent 4 }}
    {{- end }}
  ports:
    - port: {{ if .Values.postgresql.cloudnativepg.enabled }}5432{{ else }}{{ .Values.postgresql.port }}{{ end }}
      protocol: TCP
{{- end -}}

{{- define "meridian.egressKafka" -}}
- to:
    {{- if .Values.kafka.strimzi.enabled }}
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ .Values.kafka.strimzi.clusterName }}
          strimzi.io/kind: Kafka
    {{- else }}
    {{- toYaml .Values.kafka.networkPeers | nindent 4 }}
    {{- end }}
  ports:
    - port: {{ if .Values.kafka.strimzi.enabled }}9093{{ else }}{{ .Values.kafka.port }}{{ end }}
      protocol: TCP
{{- end -}}
