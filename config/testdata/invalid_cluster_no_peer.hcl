cluster {
  bind = "127.0.0.1:7946"
}
