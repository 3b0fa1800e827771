http {
  app = "shop"
}
