{{/*
Names and labels, in the usual Helm pattern, and the controller's RBAC
rules, defined once here and used by both the ClusterRole (all namespaces)
and the Role (one per watched namespace) forms in rbac.yaml. The rules are the same as
deploy/base/rbac/*.yaml; helm/README.md explains each one.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "snapstage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else RELEASE-NAME, or
RELEASE alone when it already contains the chart name. 63 characters at
most (some name fields are DNS labels).
*/}}
{{- define "snapstage.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "snapstage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels a selector uses: never change them between releases. */}}
{{- define "snapstage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "snapstage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Every object's labels. */}}
{{- define "snapstage.labels" -}}
helm.sh/chart: {{ include "snapstage.chart" . }}
{{ include "snapstage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: snapstage
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "snapstage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "snapstage.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "snapstage.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The namespaces to watch: watchNamespaces, plus watchNamespace (the older
single value, still honoured), each once, as a JSON array ("[]": all).
Use: include "snapstage.watchNamespaces" . | fromJsonArray
*/}}
{{- define "snapstage.watchNamespaces" -}}
{{- $list := .Values.watchNamespaces | default list }}
{{- with .Values.watchNamespace }}
{{- $list = append $list . }}
{{- end }}
{{- toJson (uniq $list) }}
{{- end }}

{{/*
What the controller does to namespaced objects: a ClusterRole bound
cluster-wide, or a Role in each watched namespace. Each verb is a request
the controller makes (tests/integration/rbac_rules.txt names the code).
*/}}
{{- define "snapstage.rules.namespaced" -}}
# Informers and fresh reads; only their status is ever written.
- apiGroups: [snapstage.io]
  resources: [backupschedules, restores]
  verbs: [get, list, watch]
# A BackupSchedule creates Backups, retention deletes them; patch: the
# Backup's finalizer (metadata only, never the spec).
- apiGroups: [snapstage.io]
  resources: [backups]
  verbs: [get, list, watch, create, delete, patch]
- apiGroups: [snapstage.io]
  resources: [backupschedules/status, backups/status, restores/status]
  verbs: [update]
# Owner references with blockOwnerDeletion (BackupSchedule -> Backup,
# Backup -> VolumeSnapshot, Restore -> its point-in-time scratch Pod) need
# update on the owner's finalizers subresource
# (OwnerReferencesPermissionEnforcement).
- apiGroups: [snapstage.io]
  resources: [backupschedules/finalizers, backups/finalizers, restores/finalizers]
  verbs: [update]
# One VolumeSnapshot per volume of a backup; an untrusted or failed
# attempt's own snapshots are deleted.
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshots]
  verbs: [get, list, watch, create, delete]
# The informer a server is picked from.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# A Restore reads and creates claims; a failed NewClaims restore deletes its
# own claims that never bound.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, create, delete]
# get only, never list/watch: just the Secrets a resource names.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Events (events.k8s.io/v1); patch counts a repeated one.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
The extra permissions of in-place restores (inPlaceRestore.enabled) on
namespaced objects: with snapstage.rules.inPlaceRestoreVolumes one
ClusterRole (as deploy/in-place-restore/), or a Role in each watched
namespace.
*/}}
{{- define "snapstage.rules.inPlaceRestore" -}}
# The target StatefulSet is read and pinned, never written.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get]
# Scaling goes through the scale subresource only (a merge patch).
- apiGroups: [apps]
  resources: [statefulsets/scale]
  verbs: [patch]
# Its governing Service, read: it must give the primary the DNS name the
# replicas replicate from.
- apiGroups: [""]
  resources: [services]
  verbs: [get]
{{- end }}

{{/*
The extra permissions of restore verification (verification.enabled), all
namespaced: a ClusterRole bound cluster-wide (as deploy/verification/), or
a Role in each watched namespace. The scratch claims need nothing more
than snapstage.rules.namespaced grants (claims get, create, delete), and
the scratch objects' owner references the backups/finalizers rule there.
*/}}
{{- define "snapstage.rules.verification" -}}
# The scratch MariaDB Pod: created from the StatefulSet's template, read
# until Ready, deleted when done (uid precondition); get also reads the Pod
# a podSelector Backup was cut on, to find its StatefulSet. Never update,
# patch or exec.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, create, delete]
# The StatefulSet whose pod template the scratch Pod copies; never written.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get]
{{- end }}

{{/*
The in-place restore's cluster-scoped permission: a ClusterRole in every
mode (its own, <fullname>-in-place-restore-volumes, with watched namespaces).
*/}}
{{- define "snapstage.rules.inPlaceRestoreVolumes" -}}
# The old claims' PersistentVolumes: reclaim policy Retain until success,
# then put back; bound again (claimRef) on a rollback. get and patch only.
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, patch]
{{- end }}

{{/* Cluster-scoped reads: only a ClusterRole can grant them; never watched. */}}
{{- define "snapstage.rules.clusterReads" -}}
# The Backup's class by name, or the default one.
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshotclasses]
  verbs: [get, list]
# get only: a Restore checks its snapshot's content's driver against the
# target StorageClass's provisioner.
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshotcontents]
  verbs: [get]
# The Restore's claims' class by name, or the default one.
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list]
{{- end }}

{{/* The subject every binding names. */}}
{{- define "snapstage.subjects" -}}
- kind: ServiceAccount
  name: {{ include "snapstage.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
