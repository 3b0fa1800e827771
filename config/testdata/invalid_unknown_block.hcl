node {
  name = "red"
}

server {
}
