-- Migration number: 0010 	 2024-10-21T06:37:12.759Z

INSERT INTO apps (id, secret, label, callback_urls, grants)
VALUES ('6f1d2c3e-4b5a-4c7d-9e8f-a0b1c2d3e4f5', hex(randomblob(42)), 'Lobby kiosk', '/', 'read');
