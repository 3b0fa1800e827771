session {
  idle_timeout = "2h"
  lifetime     = "1h"
}
