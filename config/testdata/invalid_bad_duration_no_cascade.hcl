session {
  idle_timeout = "30x"
  lifetime     = "10m"
}
