session {
  evict_after = 600
}
