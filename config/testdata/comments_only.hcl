# Nothing set: every default applies.
// also a comment
