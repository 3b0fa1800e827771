session {
  max_in_memory = 1e100
}
