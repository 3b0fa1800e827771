http {
  listen = "localhost:http-alt"
}
