{{/*
Names, labels, the operator's arguments and its RBAC rules, each defined once for every template.
The selector labels are upstream's (and manifests/base's) constant set: selectors are immutable, so an install
made with kustomize or the Go operator can be taken over, and a chart upgrade never changes them.
*/}}

{{- define "mpi-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mpi-operator.serviceAccountName" -}}
{{- default (include "mpi-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "mpi-operator.selectorLabels" -}}
app: mpi-operator
app.kubernetes.io/component: mpijob
app.kubernetes.io/name: mpi-operator
kustomize.component: mpi-operator
{{- end -}}

{{/* Helm's labels go on the objects, not on the pod template: a chart upgrade alone does not roll the pods. */}}
{{- define "mpi-operator.labels" -}}
{{ include "mpi-operator.selectorLabels" . }}
{{ include "mpi-operator.helmLabels" . }}
{{- end -}}

{{- define "mpi-operator.helmLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mpi-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Rules that cannot be checked by the schema because they span several values. */}}
{{- define "mpi-operator.checks" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount=%d needs leaderElection.enabled=true: without leader election every replica would reconcile the same MPIJobs" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "serviceMonitor.enabled=true needs metrics.enabled=true: the ServiceMonitor scrapes the metrics Service" -}}
{{- end -}}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.health.port)) -}}
{{- fail (printf "metrics.port and health.port are both %d: the operator listens on each separately" (int .Values.health.port)) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" .Values.shutdownGracePeriod)) (ge (float64 .Values.shutdownGracePeriod) (float64 .Values.terminationGracePeriodSeconds)) -}}
{{- fail (printf "shutdownGracePeriod (%v) must be below terminationGracePeriodSeconds (%v), or the kubelet kills the operator before it releases the lease" .Values.shutdownGracePeriod .Values.terminationGracePeriodSeconds) -}}
{{- end -}}
{{- end -}}

{{/*
The operator's command line. The first four are manifests/base's; each further flag only when its value is
set, so the operator's own default applies otherwise. The lease lives in the pod's own namespace (Q25).
*/}}
{{- define "mpi-operator.args" -}}
- run
- --lock-namespace=$(POD_NAMESPACE)
{{- if .Values.metrics.enabled }}
- --monitoring-port={{ .Values.metrics.port }}
{{- end }}
- --health-port={{ .Values.health.port }}
{{- with .Values.watchNamespace }}
- --namespace={{ . }}
{{- end }}
{{- with .Values.gangScheduling }}
- --gang-scheduling={{ . }}
{{- end }}
{{- /* name, value, integer? ; integers are printed as such (values arrive as float64: 1e+06 otherwise) */}}
{{- $flags := list
  (list "threadiness" .Values.workqueue.threadiness true)
  (list "controller-queue-rate-limit" .Values.workqueue.retryRateLimit false)
  (list "controller-queue-burst" .Values.workqueue.retryBurst true)
  (list "kube-api-qps" .Values.kubeAPI.qps false)
  (list "kube-api-burst" .Values.kubeAPI.burst true)
  (list "leader-elect-lease-duration" .Values.leaderElection.leaseDuration false)
  (list "leader-elect-renew-deadline" .Values.leaderElection.renewDeadline false)
  (list "leader-elect-retry-period" .Values.leaderElection.retryPeriod false)
  (list "shutdown-grace-period" .Values.shutdownGracePeriod false) }}
{{- range $flags }}
{{- $value := index . 1 }}
{{- if not (kindIs "invalid" $value) }}
- --{{ index . 0 }}={{ if index . 2 }}{{ int64 $value }}{{ else }}{{ $value }}{{ end }}
{{- end }}
{{- end }}
{{- if not .Values.leaderElection.enabled }}
- --no-leader-elect
{{- end }}
{{- with .Values.clusterDomain }}
- --cluster-domain={{ . }}
{{- end }}
{{- with .Values.logging.level }}
- --log-level={{ . }}
{{- end }}
{{- with .Values.logging.format }}
- --log-format={{ . }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The operator's permissions, exactly manifests/base/cluster-role.yaml (why each: manifests/rbac-usage.md), in
four parts so that a namespace-scoped install can grant each where it is used.
*/}}
{{- define "mpi-operator.rules.jobs" -}}
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [create, list, watch, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, list, watch, update]
- apiGroups: [""]
  resources: [pods]
  verbs: [create, list, watch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, list, watch, update, patch, delete]
- apiGroups: [batch]
  resources: [jobs/status]
  verbs: [patch]
- apiGroups: [kubeflow.org]
  resources: [mpijobs]
  verbs: [list, watch]
- apiGroups: [kubeflow.org]
  resources: [mpijobs/status]
  verbs: [patch]
- apiGroups: [kubeflow.org]
  resources: [mpijobs/finalizers]
  verbs: [update]
{{- end -}}

{{- define "mpi-operator.rules.leases" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
{{- end -}}

{{- define "mpi-operator.rules.priorityclasses" -}}
- apiGroups: [scheduling.k8s.io]
  resources: [priorityclasses]
  verbs: [list, watch]
{{- end -}}

{{- define "mpi-operator.rules.podgroups" -}}
- apiGroups: [scheduling.volcano.sh, scheduling.x-k8s.io]
  resources: [podgroups]
  verbs: [create, list, watch, patch, delete]
{{- end -}}
