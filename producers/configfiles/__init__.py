"""Config files: tracking, versions, validation, desired state and package awareness."""
