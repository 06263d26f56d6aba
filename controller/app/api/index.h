/*
 * index.h — the names of the secondary indexes main.c adds to the informer
 * caches, shared by every controller that reads a cache by them
 * (ctrl_store_by_index). One header, so no controller includes another's to
 * learn an index name.
 *
 * Header only: names, no code. Thread-safety: not applicable.
 */
#ifndef SNAPSTAGE_APP_INDEX_H
#define SNAPSTAGE_APP_INDEX_H

/* The index on the Pod and Restore caches by namespace
 * (ctrl_index_by_namespace). */
#define APP_INDEX_NAMESPACE "namespace"

/* The index on the Backup cache by the snapstage.io/schedule label
 * (ctrl_index_by_label with APP_LABEL_SCHEDULE as payload). Values are
 * schedule names: filter by namespace. */
#define APP_INDEX_SCHEDULE "schedule"

#endif
