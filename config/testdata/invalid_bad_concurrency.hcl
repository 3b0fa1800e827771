session {
  concurrency = "parallel"
}
