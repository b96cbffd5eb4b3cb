//! The BatchNotification custom resource (batchnotify.dev/v1alpha1).
