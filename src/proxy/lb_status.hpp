// The /lb-status endpoint: nginx stub_status-compatible text, or JSON with the connection figures
// and, per service and instance, the same view as the dashboard (proxy/instance_status.hpp).
#pragma once

#include <string>

namespace sb::proxy {

class Server;

// Active connections: 2
// server accepts handled requests
//  10 10 31
// Reading: 0 Writing: 1 Waiting: 1
std::string status_text(const Server& server);
std::string status_json(const Server& server);

}  // namespace sb::proxy
