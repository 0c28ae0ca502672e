"""What faces the network before any route runs: request bodies capped while they are read
(`bodylimit`), only allowed Hosts and Origins (`hosts`), and connections bounded per IP and per
node with a header timeout (`connections`, `protocols`, wired into uvicorn by `server`)."""
