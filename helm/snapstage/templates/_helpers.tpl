{{/*
Names and labels, in the usual Helm pattern, and the controller's RBAC
rules, defined once here and used by both the ClusterRole (all namespaces)
and the Role (watchNamespace) forms in rbac.yaml. The rules are the same as
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
What the controller does to namespaced objects. Bound cluster-wide, or as a
Role in watchNamespace.
*/}}
{{- define "snapstage.rules.namespaced" -}}
# Its own resources: watched, and updated (finalizers, labels).
- apiGroups: [snapstage.io]
  resources: [backupschedules, backups, restores]
  verbs: [get, list, watch, update, patch]
# A BackupSchedule creates Backups; retention deletes old ones.
- apiGroups: [snapstage.io]
  resources: [backups]
  verbs: [create, delete]
- apiGroups: [snapstage.io]
  resources: [backupschedules/status, backups/status, restores/status]
  verbs: [get, update, patch]
# Owner references with blockOwnerDeletion need update on the owner's
# finalizers subresource.
- apiGroups: [snapstage.io]
  resources: [backupschedules/finalizers, backups/finalizers, restores/finalizers]
  verbs: [update]
# One VolumeSnapshot per volume of a backup; deleted with the Backup.
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshots]
  verbs: [get, list, watch, create, delete, patch]
# Finding the replica to lock, and its volumes.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch]
# create: a Restore provisions new claims from the snapshots; delete: a
# failed NewClaims restore removes its own claims that never bound.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, create, delete]
# get only, never list/watch: it reads just the Secret a resource names.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Events on the objects it reconciles (events.k8s.io/v1, core/v1 fallback);
# patch aggregates repeats.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
The extra permissions of in-place restores (inPlaceRestore.enabled) on
namespaced objects. Without watchNamespace they are one ClusterRole together
with snapstage.rules.inPlaceRestoreVolumes (as deploy/in-place-restore/);
with it, a Role in that namespace.
*/}}
{{- define "snapstage.rules.inPlaceRestore" -}}
# The old claims are deleted while the StatefulSet is scaled to zero. The
# namespaced rules grant delete too; kept so this role says all an in-place
# restore does.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [delete]
# Scaling goes through the scale subresource only, never the StatefulSet.
- apiGroups: [apps]
  resources: [statefulsets/scale]
  verbs: [get, update, patch]
{{- end }}

{{/*
The in-place restore's cluster-scoped permission: a ClusterRole in every
mode (its own, <fullname>-in-place-restore-volumes, with watchNamespace).
*/}}
{{- define "snapstage.rules.inPlaceRestoreVolumes" -}}
# The old claims' PersistentVolumes: reclaim policy Retain until success,
# then put back; bound again (claimRef) on a rollback. get and patch only.
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, patch]
{{- end }}

{{/* Cluster-scoped reads: only a ClusterRole can grant them. */}}
{{- define "snapstage.rules.clusterReads" -}}
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshotclasses]
  verbs: [get, list, watch]
# get only: a Restore checks its snapshot's content's driver against the
# target StorageClass's provisioner.
- apiGroups: [snapshot.storage.k8s.io]
  resources: [volumesnapshotcontents]
  verbs: [get]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
{{- end }}

{{/* The subject every binding names. */}}
{{- define "snapstage.subjects" -}}
- kind: ServiceAccount
  name: {{ include "snapstage.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
