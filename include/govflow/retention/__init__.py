"""Records as the law needs them: retention per data type (policy.yaml ``retention``) and
legal holds that no purge passes (:mod:`govflow.retention.holds`,
:mod:`govflow.retention.purge`)."""
