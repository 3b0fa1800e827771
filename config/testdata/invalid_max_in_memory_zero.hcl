session {
  max_in_memory = 0
}
