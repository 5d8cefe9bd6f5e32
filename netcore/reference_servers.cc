// reference servers
