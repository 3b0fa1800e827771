session {
  max_attribute_size = "1 lots"
}
