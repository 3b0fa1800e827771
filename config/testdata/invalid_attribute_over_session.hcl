session {
  max_attribute_size = "8MiB"
}
