"""Where a pool's served versions live: servers, sizes and the last placement in, servers out."""
