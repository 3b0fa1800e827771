session {
  sweep_interval = "0s"
}
