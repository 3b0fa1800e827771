http {
  tls {
  }
}
