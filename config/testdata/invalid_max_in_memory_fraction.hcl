session {
  max_in_memory = 1.5
}
