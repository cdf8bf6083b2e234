-- Migration number: 0010 	 2024-10-18T01:49:30.115Z

UPDATE members AS m SET profile = json_insert(m.profile, '$.feed', m.id || '/feed');
UPDATE members AS m SET profile = json_insert(m.profile, '$.followers', m.id || '/followers');
UPDATE members AS m SET profile = json_insert(m.profile, '$.following', m.id || '/following');
