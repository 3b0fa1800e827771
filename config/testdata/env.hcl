node {
  name = env("WADI_NODE")
}

http {
  listen = "${env("WADI_HOST")}:8081"
}
