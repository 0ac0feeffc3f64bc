DROP TABLE chat_leases;
DROP TABLE sender_instances;
